fn main() -> std::process::ExitCode {
    scimdesk::cli::main()
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
