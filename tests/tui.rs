//! The dashboard as a person uses it: key sequences change the store through the directory, and
//! every screen and dialog renders (TestBackend + insta snapshots, text only; colours are
//! checked on the buffer where they carry meaning).

use std::sync::Arc;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use scimdesk::activity::{ActivityEvent, Change, Idp};
use scimdesk::config::Config;
use scimdesk::control::Local;
use scimdesk::directory::Directory;
use scimdesk::scim::schema::ResourceKind as Kind;
use scimdesk::tui::app::{Action, App, Dialog, Screen, SecretKind};
use serde_json::json;

struct Fixture {
    _tmp: tempfile::TempDir,
    /// The directory the dashboard works on, for setting up and checking data.
    dir: Directory,
    app: App,
}

async fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = Config::for_data_dir(&tmp.path().join("store"));
    config.store.cache_capacity = 8 << 20;
    config.server.public_url = "https://scim.example.com".into();
    let dir = Directory::open(config).unwrap();
    let mut app = App::new(
        Arc::new(Local::new(dir.clone(), "serving on 127.0.0.1:8080")),
        "127.0.0.1:8080".into(),
    );
    app.load().await;
    Fixture {
        app,
        dir,
        _tmp: tmp,
    }
}

/// Presses keys: plain characters, or `<Enter>`, `<Tab>`, `<Esc>`, `<Down>`, `<Up>`, `<BS>`.
async fn press(app: &mut App, keys: &str) {
    let mut rest = keys;
    while !rest.is_empty() {
        let (code, len) = if let Some(end) = rest.strip_prefix('<').and_then(|r| r.find('>')) {
            let name = &rest[1..=end];
            let code = match name {
                "Enter" => KeyCode::Enter,
                "Tab" => KeyCode::Tab,
                "Esc" => KeyCode::Esc,
                "Down" => KeyCode::Down,
                "Up" => KeyCode::Up,
                "BS" => KeyCode::Backspace,
                "PgDn" => KeyCode::PageDown,
                "F5" => KeyCode::F(5),
                other => panic!("unknown key {other}"),
            };
            (code, end + 2)
        } else {
            let c = rest.chars().next().unwrap();
            (KeyCode::Char(c), c.len_utf8())
        };
        rest = &rest[len..];
        if let Some(action) = app.handle_key(KeyEvent::new(code, KeyModifiers::NONE)) {
            app.update(action).await;
        }
    }
}

/// Renders the app and returns the screen's text.
async fn render(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let mut rows = 0;
    terminal
        .draw(|f| rows = scimdesk::tui::screens::draw(f, app))
        .unwrap();
    if rows != app.page_size && rows > 0 {
        app.page_size = rows;
        app.load_rows().await;
        terminal
            .draw(|f| rows = scimdesk::tui::screens::draw(f, app))
            .unwrap();
    }
    let buffer = terminal.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let line: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Snapshots with times, ids and secrets replaced by placeholders.
macro_rules! snapshot {
    ($name:expr, $text:expr) => {{
        let text: String = $text;
        insta::with_settings!({filters => vec![
            (r"scimdesk_app_[A-Za-z0-9_-]{43}", "scimdesk_app_[secret]"),
            (r"scimdesk_[A-Za-z0-9_-]{43}", "scimdesk_[secret]"),
            (r"key_[0-9a-f]{12}", "key_[id]"),
            (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[uuid]"),
            (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", "[rfc3339]"),
            (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC", "[time]"),
            (r"\d+[smhd] ago", "[ago]"),
            (r"\d+\.\d req/s", "[rate]"),
            // The same cut short by the terminal's width.
            (r"live \d[\d.]*$", "live [rate]"),
            (r"live \d[\d.]*(\n)", "live [rate]$1"),
            (r"whsec_[A-Za-z0-9+/=]{44}", "whsec_[secret]"),
            (r"whk_[0-9a-f]{12}", "whk_[id]"),
            (r"in \d+[smhd]\b", "in [time]"),
            (r"\d+\.\dms", "[ms]"),
            (r"\d{2}:\d{2}:\d{2}", "[clock]"),
        ]}, {
            insta::assert_snapshot!($name, text);
        });
    }};
}

fn event(org: &str, status: u16, summary: &str, minute_offset: i64) -> Arc<ActivityEvent> {
    // Relative to now, so the per-minute chart is the same whenever the test runs.
    let time = scimdesk::store::now() - time::Duration::minutes(2 - minute_offset);
    Arc::new(ActivityEvent {
        id: format!("{minute_offset:08}"),
        time,
        org: org.into(),
        key_id: Some("key_0123456789ab".into()),
        idp: if status >= 400 { Idp::Entra } else { Idp::Okta },
        method: if summary.starts_with("created") {
            "POST".into()
        } else {
            "PATCH".into()
        },
        path: format!("/scim/v2/{org}/Users"),
        resource_type: Some("User".into()),
        resource_id: Some("2819c223-7f76-453a-919d-413861904646".into()),
        subject: Some("alice@acme.com".into()),
        status,
        latency_us: 2_345,
        summary: summary.into(),
        changes: vec![Change {
            attr: "active".into(),
            old: Some(json!(true)),
            new: Some(json!(false)),
        }],
        ignored: vec![],
    })
}

async fn with_orgs(f: &mut Fixture) {
    let dir = &f.dir;
    dir.create_org("acme", "Acme Corp").await.unwrap();
    dir.add_domain("acme", "acme.com").await.unwrap();
    dir.add_domain("acme", "*").await.unwrap();
    dir.set_scim_enabled("acme", true).await.unwrap();
    dir.issue_key("acme", Some("okta")).await.unwrap();
    let old = dir.issue_key("acme", Some("old")).await.unwrap();
    dir.revoke_key("acme", &old.key.id).await.unwrap();
    dir.create_org("globex", "Globex").await.unwrap();
    f.app.refresh_orgs().await;
}

#[tokio::test]
async fn organizations_screen() {
    let mut f = fixture().await;
    snapshot!("orgs_empty", render(&mut f.app, 100, 30).await);
    with_orgs(&mut f).await;
    snapshot!("orgs_table", render(&mut f.app, 100, 30).await);
    snapshot!("orgs_table_80x24", render(&mut f.app, 80, 24).await);
    // SCIM state reads without colour ("on"/"off") and is coloured too.
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    terminal
        .draw(|fr| {
            scimdesk::tui::screens::draw(fr, &f.app);
        })
        .unwrap();
    let buf = terminal.backend().buffer();
    let on = (0..100)
        .flat_map(|x| (0..30).map(move |y| (x, y)))
        .find(|&(x, y)| {
            buf[(x, y)].symbol() == "o"
                && buf[(x + 1, y)].symbol() == "n"
                && buf[(x + 2, y)].symbol() == " "
                && y == 3
        });
    let (x, y) = on.expect("'on' in the acme row");
    assert_eq!(buf[(x, y)].fg, ratatui::style::Color::Green);
}

#[tokio::test]
async fn creating_an_organization_by_keys() {
    let mut f = fixture().await;
    press(&mut f.app, "n").await;
    snapshot!("dialog_new_org", render(&mut f.app, 100, 30).await);
    press(&mut f.app, "Bad Id<Tab>Acme<Enter>").await;
    // The mistake is shown inline and nothing is stored.
    snapshot!("dialog_new_org_error", render(&mut f.app, 100, 30).await);
    assert!(f.dir.list_orgs().unwrap().is_empty());
    // Back to the id field: erase it and type a good one.
    press(&mut f.app, "<Tab><BS><BS><BS><BS><BS><BS>acme<Enter>").await;
    let org = f.dir.get_org("acme").unwrap();
    assert!(f.app.dialog.is_none(), "{:?}", f.app.dialog);
    assert_eq!(org.name, "Acme");
    assert!(f.app.status.as_ref().unwrap().0.contains("saved"));
}

#[tokio::test]
async fn organization_screen_toggles_domains_and_keys() {
    let mut f = fixture().await;
    f.dir.create_org("acme", "Acme Corp").await.unwrap();
    f.app.refresh_orgs().await;
    press(&mut f.app, "<Enter>").await;
    assert_eq!(f.app.screen(), Screen::Org);
    snapshot!("org_new_scim_off", render(&mut f.app, 100, 30).await);
    press(&mut f.app, "s").await;
    assert!(f.dir.get_org("acme").unwrap().scim_enabled);
    // SCIM on, no domain, no key: two warnings in plain words.
    let text = render(&mut f.app, 100, 30).await;
    assert!(text.contains("no domains are set"), "{text}");
    assert!(text.contains("no active key"), "{text}");
    snapshot!("org_warnings", text);
    // A bad domain is refused inline; a good one is stored lowercased.
    press(&mut f.app, "a").await;
    press(&mut f.app, "not a domain<Enter>").await;
    snapshot!("dialog_add_domain_error", render(&mut f.app, 100, 30).await);
    press(&mut f.app, "<Esc>a").await;
    press(&mut f.app, "Acme.COM<Enter>").await;
    assert_eq!(f.dir.get_org("acme").unwrap().domains, ["acme.com"]);
    // Issue a key: the secret dialog, and only the digest is stored.
    press(&mut f.app, "i").await;
    press(&mut f.app, "okta<Enter>").await;
    let Some(Dialog::Secret {
        secret,
        kind: SecretKind::Scim { url },
        ..
    }) = f.app.dialog.clone()
    else {
        panic!("no secret dialog")
    };
    assert_eq!(url, "https://scim.example.com/scim/v2/acme");
    let acme = f.dir.get_org("acme").unwrap();
    assert!(f.dir.authenticate(Some(&acme), &secret).is_ok());
    let text = render(&mut f.app, 100, 30).await;
    assert!(
        text.contains(&secret) && text.contains("will not be shown again"),
        "{text}"
    );
    snapshot!("dialog_secret", text);
    press(&mut f.app, "c").await;
    assert_eq!(f.app.clipboard.as_deref(), Some(secret.as_str()));
    press(&mut f.app, "<Enter>").await;
    assert!(f.app.dialog.is_none());
    snapshot!("org_ready", render(&mut f.app, 100, 30).await);
    snapshot!("org_ready_80x24", render(&mut f.app, 80, 24).await);
    // Revoke with confirmation: Esc keeps it, Enter revokes.
    press(&mut f.app, "<Tab>x").await;
    snapshot!("dialog_revoke", render(&mut f.app, 100, 30).await);
    press(&mut f.app, "<Esc>").await;
    assert!(f.dir.list_keys("acme").unwrap()[0].is_active());
    press(&mut f.app, "x<Enter>").await;
    assert!(!f.dir.list_keys("acme").unwrap()[0].is_active());
    assert!(f.dir.authenticate(Some(&acme), &secret).is_err());
    // Remove the domain (Tab: keys -> application keys -> domains).
    press(&mut f.app, "<Tab><Tab>x<Enter>").await;
    assert!(f.dir.get_org("acme").unwrap().domains.is_empty());
    // An application key for this organization: Tab to the application pane, a, a name.
    press(&mut f.app, "<Tab><Tab>a").await;
    press(&mut f.app, "billing<Enter>").await;
    let Some(Dialog::Secret {
        secret: app_secret,
        kind: SecretKind::App,
        ..
    }) = f.app.dialog.clone()
    else {
        panic!("no application key secret dialog: {:?}", f.app.dialog)
    };
    snapshot!("dialog_app_key_secret", render(&mut f.app, 100, 30).await);
    let key = f.dir.authenticate_app(&app_secret).unwrap();
    assert_eq!(key.org.as_deref(), Some("acme"));
    press(&mut f.app, "<Enter>").await;
    snapshot!("org_app_keys", render(&mut f.app, 100, 30).await);
    press(&mut f.app, "x<Enter>").await;
    assert!(
        f.dir.authenticate_app(&app_secret).is_err(),
        "revoked from the dashboard"
    );
    // Copy the URL.
    press(&mut f.app, "c").await;
    assert_eq!(
        f.app.clipboard.as_deref(),
        Some("https://scim.example.com/scim/v2/acme")
    );
}

#[tokio::test]
async fn deleting_an_organization_needs_its_id_typed() {
    let mut f = fixture().await;
    with_orgs(&mut f).await;
    press(&mut f.app, "d").await;
    snapshot!("dialog_delete_org", render(&mut f.app, 100, 30).await);
    press(&mut f.app, "acm<Enter>").await;
    assert!(
        f.dir.get_org("acme").is_ok(),
        "deleted without the exact id"
    );
    press(&mut f.app, "e<Enter>").await;
    assert!(f.dir.get_org("acme").is_err());
    assert_eq!(f.app.orgs.len(), 1);
    // Renaming.
    press(&mut f.app, "r").await;
    if let Some(Dialog::Input { fields, .. }) = f.app.dialog.as_mut() {
        fields[0].value.clear();
    }
    press(&mut f.app, "Globex Inc<Enter>").await;
    assert_eq!(f.dir.get_org("globex").unwrap().name, "Globex Inc");
}

async fn with_directory(dir: &Directory) {
    let org = dir.get_org("acme").unwrap();
    let mut ids = Vec::new();
    for (i, name) in ["alice", "bob", "carol"].iter().enumerate() {
        let out = dir
            .create_resource(&org, Kind::User, &json!({"userName": format!("{name}@acme.com"), "name": {"givenName": name, "familyName": "Example"}, "externalId": format!("ext{i}")}), None)
            .await
            .unwrap();
        ids.push(out.after.id);
    }
    let members: Vec<serde_json::Value> = ids.iter().map(|i| json!({"value": i})).collect();
    dir.create_resource(
        &org,
        Kind::Group,
        &json!({"displayName": "Engineering", "members": members}),
        None,
    )
    .await
    .unwrap();
    let ops = scimdesk::scim::patch::parse_request(
        &json!({"Operations": [{"op": "replace", "value": {"active": false}}]}),
    )
    .unwrap();
    dir.patch_resource(&org, Kind::User, &ids[1], &ops, None, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn directory_search_and_details() {
    let mut f = fixture().await;
    with_orgs(&mut f).await;
    press(&mut f.app, "<Enter>").await;
    press(&mut f.app, "u").await;
    snapshot!("directory_users_empty", render(&mut f.app, 100, 30).await);
    press(&mut f.app, "<Esc>").await;
    with_directory(&f.dir).await;
    press(&mut f.app, "u").await;
    snapshot!("directory_users", render(&mut f.app, 100, 30).await);
    press(&mut f.app, "/").await;
    press(&mut f.app, "car<Enter>").await;
    let text = render(&mut f.app, 100, 30).await;
    assert!(
        text.contains("carol@acme.com") && !text.contains("alice@acme.com"),
        "{text}"
    );
    press(&mut f.app, "/").await;
    if let Some(Dialog::Input { fields, .. }) = f.app.dialog.as_mut() {
        fields[0].value = "active eq false".into();
    }
    press(&mut f.app, "<Enter>").await;
    let text = render(&mut f.app, 100, 30).await;
    assert!(
        text.contains("bob@acme.com")
            && text.contains("inactive")
            && !text.contains("carol@acme.com"),
        "{text}"
    );
    press(&mut f.app, "/").await;
    if let Some(Dialog::Input { fields, .. }) = f.app.dialog.as_mut() {
        fields[0].value = "userName eq".into();
    }
    press(&mut f.app, "<Enter>").await;
    assert!(
        matches!(&f.app.dialog, Some(Dialog::Input { error: Some(_), .. })),
        "a bad filter is an inline error"
    );
    press(&mut f.app, "<Esc>/").await;
    if let Some(Dialog::Input { fields, .. }) = f.app.dialog.as_mut() {
        fields[0].value.clear();
    }
    press(&mut f.app, "<Enter><Down><Enter>").await;
    assert_eq!(f.app.screen(), Screen::Detail);
    snapshot!("user_detail", render(&mut f.app, 100, 30).await);
    press(&mut f.app, "<Esc><Tab>").await;
    snapshot!("directory_groups", render(&mut f.app, 100, 30).await);
    press(&mut f.app, "<Enter>").await;
    let text = render(&mut f.app, 100, 40).await;
    assert!(
        text.contains("members: 3") && text.contains("alice@acme.com"),
        "{text}"
    );
    snapshot!("group_detail", text);
}

#[tokio::test]
async fn activity_feed_pause_errors_and_detail() {
    let mut f = fixture().await;
    with_orgs(&mut f).await;
    press(&mut f.app, "2").await;
    assert_eq!(f.app.screen(), Screen::Activity);
    snapshot!("activity_empty", render(&mut f.app, 100, 30).await);
    f.app
        .on_activity(event("acme", 201, "created user alice@acme.com", 0));
    f.app
        .on_activity(event("acme", 200, "deactivated alice@acme.com", 1));
    f.app.on_activity(event(
        "globex",
        400,
        "rejected: eve@evil.com is outside the organization's SCIM domains",
        2,
    ));
    snapshot!("activity_feed", render(&mut f.app, 120, 30).await);
    snapshot!("activity_feed_80x24", render(&mut f.app, 80, 24).await);
    press(&mut f.app, "e").await;
    let text = render(&mut f.app, 100, 30).await;
    assert!(
        text.contains("eve@evil.com") && !text.contains("created user"),
        "{text}"
    );
    press(&mut f.app, "e").await;
    // Paused: new events are held, then shown on resume.
    press(&mut f.app, "p").await;
    f.app
        .on_activity(event("acme", 200, "updated user alice@acme.com: title", 3));
    let text = render(&mut f.app, 100, 30).await;
    assert!(
        text.contains("PAUSED (1 new held)") && !text.contains("title"),
        "{text}"
    );
    snapshot!("activity_paused", text);
    press(&mut f.app, "p").await;
    assert!(
        render(&mut f.app, 100, 30)
            .await
            .contains("updated user alice@acme.com: title")
    );
    press(&mut f.app, "<Down><Down><Enter>").await;
    assert_eq!(f.app.screen(), Screen::ActivityDetail);
    snapshot!("activity_detail", render(&mut f.app, 100, 30).await);
    // Activity of one organization from the organizations screen.
    press(&mut f.app, "1l").await;
    let text = render(&mut f.app, 120, 30).await;
    assert!(
        text.contains("Activity: acme") && !text.contains("eve@evil.com"),
        "{text}"
    );
}

#[tokio::test]
async fn rejected_requests_warn_on_the_organization_screen() {
    let mut f = fixture().await;
    with_orgs(&mut f).await;
    let mut e = (*event(
        "acme",
        400,
        "rejected: x@evil.com is outside the organization's SCIM domains",
        0,
    ))
    .clone();
    e.time = scimdesk::store::now();
    e.id = scimdesk::directory::rules::new_resource_id();
    f.dir.activity().record(e);
    f.dir.activity().close();
    press(&mut f.app, "<Enter>").await;
    let text = render(&mut f.app, 100, 30).await;
    assert!(
        text.contains("1 IdP request was rejected in the last hour"),
        "{text}"
    );
}

/// The organization screen says how sync is going (the last request and its IdP, requests and
/// errors over a day, counts, attributes sent that no schema declares) and `g` opens the setup
/// guide for each IdP with the organization's URL filled in.
#[tokio::test]
async fn sync_health_and_the_connect_an_idp_guide() {
    let mut f = fixture().await;
    with_orgs(&mut f).await;
    for (status, ignored) in [
        (
            201,
            vec!["urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge".to_string()],
        ),
        (400, vec![]),
    ] {
        let mut e = (*event("acme", status, "created user alice@acme.com", 0)).clone();
        e.id = scimdesk::directory::rules::new_resource_id();
        e.ignored = ignored;
        f.dir.activity().record(e);
    }
    f.dir.activity().close();
    press(&mut f.app, "<Enter>").await;
    let text = render(&mut f.app, 100, 30).await;
    assert!(text.contains("last request 2m ago from Entra ID"), "{text}");
    assert!(text.contains("24h: 2 requests, 1 error"), "{text}");
    assert!(
        text.contains("Sent but not declared (7 days): urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge ×1"),
        "{text}"
    );
    snapshot!("org_sync_health", text);
    press(&mut f.app, "g").await;
    assert_eq!(f.app.screen(), Screen::Guide);
    let text = render(&mut f.app, 100, 30).await;
    assert!(text.contains("Connect Okta to"), "{text}");
    assert!(
        text.contains("SCIM connector base URL:             https://scim.example.com/scim/v2/acme"),
        "{text}"
    );
    snapshot!("guide_okta", text);
    press(&mut f.app, "<Tab>").await;
    let text = render(&mut f.app, 100, 30).await;
    assert!(
        text.contains("https://scim.example.com/scim/v2/acme?aadOptscim062020"),
        "{text}"
    );
    snapshot!("guide_entra", text);
    press(&mut f.app, "c").await;
    assert_eq!(
        f.app.clipboard.as_deref(),
        Some("https://scim.example.com/scim/v2/acme")
    );
    press(&mut f.app, "<Esc>").await;
    assert_eq!(f.app.screen(), Screen::Org);
}

/// `4` lists declared schemas; `a` declares one from a file (a bad file is refused inline),
/// `x` removes it after confirmation.
#[tokio::test]
async fn schemas_screen_by_keys() {
    let mut f = fixture().await;
    with_orgs(&mut f).await;
    press(&mut f.app, "4").await;
    assert_eq!(f.app.screen(), Screen::Schemas);
    let text = render(&mut f.app, 100, 30).await;
    assert!(text.contains("no extension schemas"), "{text}");
    let bad = std::env::temp_dir().join(format!("scimdesk-bad-schema-{}.json", std::process::id()));
    std::fs::write(
        &bad,
        r#"{"id": "urn:x:2.0:User", "attributes": [{"name": "a", "type": "number"}]}"#,
    )
    .unwrap();
    press(&mut f.app, "a").await;
    press(&mut f.app, &format!("{}<Enter>", bad.display())).await;
    assert!(f.app.dialog.is_some(), "a bad file keeps the dialog open");
    let text = render(&mut f.app, 100, 30).await;
    assert!(text.contains("type \"number\" is not one of"), "{text}");
    press(&mut f.app, "<Esc>").await;
    let good = format!(
        "{}/assets/schemas/entra-custom-user.json",
        env!("CARGO_MANIFEST_DIR")
    );
    press(&mut f.app, "a").await;
    press(&mut f.app, &format!("{good}<Tab>acme<Enter>")).await;
    assert!(f.app.dialog.is_none(), "{:?}", f.app.status);
    assert_eq!(f.dir.list_schemas().unwrap().len(), 1);
    assert_eq!(
        f.dir.list_schemas().unwrap()[0].org.as_deref(),
        Some("acme")
    );
    let text = render(&mut f.app, 100, 30).await;
    assert!(text.contains("costCenter (string)"), "{text}");
    assert!(text.contains("badgeNumber (string, unique)"), "{text}");
    snapshot!("schemas", text);
    press(&mut f.app, "x").await;
    press(&mut f.app, "<Enter>").await;
    assert!(f.dir.list_schemas().unwrap().is_empty());
    let _ = std::fs::remove_file(bad);
}

#[tokio::test]
async fn help_and_quitting() {
    let mut f = fixture().await;
    press(&mut f.app, "?").await;
    assert_eq!(f.app.dialog, Some(Dialog::Help));
    snapshot!("help", render(&mut f.app, 100, 30).await);
    snapshot!("help_80x24", render(&mut f.app, 80, 24).await);
    press(&mut f.app, "<Esc>").await;
    assert!(f.app.dialog.is_none() && !f.app.quit);
    press(&mut f.app, "<Esc>").await;
    assert!(f.app.quit, "Esc at the top quits");
    let mut f = fixture().await;
    with_orgs(&mut f).await;
    press(&mut f.app, "<Enter>").await;
    press(&mut f.app, "<Esc>").await;
    assert_eq!(f.app.screen(), Screen::Orgs);
    assert!(!f.app.quit);
    press(&mut f.app, "q").await;
    assert!(f.app.quit);
    assert_eq!(
        f.app
            .handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Action::Quit)
    );
}

#[tokio::test]
async fn a_large_directory_loads_only_the_visible_rows() {
    let mut f = fixture().await;
    with_orgs(&mut f).await;
    let org = f.dir.get_org("acme").unwrap();
    for i in 0..300 {
        f.dir
            .create_resource(
                &org,
                Kind::User,
                &json!({"userName": format!("u{i:04}@acme.com")}),
                None,
            )
            .await
            .unwrap();
    }
    press(&mut f.app, "<Enter>u").await;
    render(&mut f.app, 100, 30).await;
    let view = f.app.directory.as_ref().unwrap();
    assert_eq!(view.ids.len(), 300);
    assert!(view.rows.len() <= 30, "loaded {} rows", view.rows.len());
    press(&mut f.app, "G").await;
    let text = render(&mut f.app, 100, 30).await;
    assert!(text.contains("u0299@acme.com"), "{text}");
    assert!(text.contains("of 300"), "{text}");
}

#[tokio::test]
async fn webhooks_screen_by_keys() {
    use scimdesk::directory::{Attempt, DeliverySave, DeliveryState, WebhookProgress};
    let mut f = fixture().await;
    with_orgs(&mut f).await;
    press(&mut f.app, "3").await;
    assert_eq!(f.app.screen(), Screen::Webhooks);
    snapshot!("webhooks_empty", render(&mut f.app, 100, 30).await);

    // Adding: a plain-http URL is refused inline, nothing is stored.
    press(&mut f.app, "a").await;
    press(&mut f.app, "http://app.example.com/hooks<Enter>").await;
    snapshot!(
        "dialog_add_webhook_error",
        render(&mut f.app, 100, 30).await
    );
    assert!(f.dir.list_webhooks().unwrap().is_empty());
    press(&mut f.app, &"<BS>".repeat(29)).await;
    press(
        &mut f.app,
        "https://app.example.com/hooks<Tab>acme<Tab>user.*<Enter>",
    )
    .await;
    let Some(Dialog::Secret { secret, .. }) = f.app.dialog.clone() else {
        panic!("the secret is shown: {:?}", f.app.dialog);
    };
    assert!(secret.starts_with("whsec_"));
    snapshot!("dialog_webhook_secret", render(&mut f.app, 100, 30).await);
    let added = f.dir.list_webhooks().unwrap();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].org.as_deref(), Some("acme"));
    assert_eq!(added[0].types, vec!["user.*".to_string()]);
    press(&mut f.app, "<Esc>").await;

    // An endpoint that has been failing, as its delivery worker saves it.
    let failing = f
        .dir
        .add_webhook("http://127.0.0.1:1/hook", None, None, None)
        .await
        .unwrap()
        .endpoint;
    let now = scimdesk::store::now();
    let failure = Attempt {
        at: now - time::Duration::minutes(1),
        org: "acme".into(),
        event: scimdesk::store::cursor(3),
        status: Some(503),
        latency_ms: 12.3,
        error: Some("503 Service Unavailable: upstream down".into()),
    };
    f.dir
        .save_deliveries(
            &failing.id,
            DeliverySave {
                progress: WebhookProgress {
                    generation: 0,
                    swept: failing.from,
                    failing_since: Some(now - time::Duration::hours(1)),
                    last_success: None,
                },
                states: vec![(
                    "acme".into(),
                    DeliveryState {
                        cursor: failing.from,
                        attempts: 2,
                        next_retry: Some(now + time::Duration::minutes(4)),
                        failing_since: Some(now - time::Duration::hours(1)),
                        last_failure: Some(failure.clone()),
                        ..Default::default()
                    },
                )],
                attempts: vec![failure],
            },
        )
        .unwrap();
    f.dir.durable().await.unwrap();
    press(&mut f.app, "<F5>").await;
    let row = f
        .app
        .webhooks
        .list
        .iter()
        .position(|w| w.id == failing.id)
        .unwrap();
    while f.app.webhooks.selected != row {
        press(&mut f.app, "<Down>").await;
    }
    snapshot!("webhooks_failing", render(&mut f.app, 110, 30).await);

    // A test event to a port nobody listens on: the failure is reported and recorded.
    press(&mut f.app, "t").await;
    let (text, is_error) = f.app.status.clone().unwrap();
    assert!(is_error && text.contains("not delivered"), "{text}");
    f.dir.durable().await.unwrap();
    assert_eq!(f.dir.webhook_attempts(&failing.id).unwrap().len(), 2);

    // Disable, then enable again.
    press(&mut f.app, "d").await;
    assert!(!f.dir.get_webhook(&failing.id).unwrap().enabled);
    snapshot!("webhooks_disabled", render(&mut f.app, 110, 30).await);
    press(&mut f.app, "d").await;
    assert!(f.dir.get_webhook(&failing.id).unwrap().enabled);

    // Replay: a mistake is explained inline; a duration works.
    press(&mut f.app, "p").await;
    press(&mut f.app, "yesterday<Enter>").await;
    let Some(Dialog::Input { error: Some(e), .. }) = &f.app.dialog else {
        panic!("{:?}", f.app.dialog);
    };
    assert!(e.contains("neither a cursor"), "{e}");
    press(&mut f.app, &"<BS>".repeat(9)).await;
    press(&mut f.app, "2h<Enter>").await;
    assert!(f.app.dialog.is_none());
    assert_eq!(f.dir.get_webhook(&failing.id).unwrap().generation, 1);

    // Rotating shows the new secret once; two secrets sign for a day.
    press(&mut f.app, "s<Enter>").await;
    assert!(matches!(f.app.dialog, Some(Dialog::Secret { .. })));
    press(&mut f.app, "<Esc>").await;
    assert_eq!(f.dir.get_webhook(&failing.id).unwrap().secrets.len(), 2);

    // Removing asks first.
    press(&mut f.app, "x").await;
    assert!(matches!(f.app.dialog, Some(Dialog::Confirm { .. })));
    press(&mut f.app, "<Enter>").await;
    assert!(f.dir.get_webhook(&failing.id).is_err());
    assert_eq!(f.app.webhooks.list.len(), 1);
}
