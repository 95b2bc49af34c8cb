//! The one keymap: a table per screen of (keys, action, label). Key dispatch, the footer and
//! the `?` overlay are all read from these tables, so they cannot disagree.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::app::App;
use super::dialogs::Dialog;
use super::views::Screen;

/// Everything a key can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Back,
    Help,
    GoOrgs,
    GoActivity,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    NewOrg,
    RenameOrg,
    DeleteOrg,
    ToggleScim,
    SwitchPane,
    Add,
    Remove,
    IssueKey,
    OpenDirectory,
    OrgActivity,
    Copy,
    Search,
    TogglePause,
    ToggleErrors,
    Refresh,
    GoWebhooks,
    GoSchemas,
    ToggleEnabled,
    RetryNow,
    SendTest,
    Replay,
    RotateSecret,
    Guide,
    // Inside dialogs.
    Type(char),
    Backspace,
    NextField,
    Submit,
    Cancel,
}

/// A key press a binding answers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn key(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

/// What a binding is called: fixed, or one of two words by the state it toggles.
#[derive(Clone, Copy)]
pub enum Label {
    Fixed(&'static str),
    Toggle {
        on: &'static str,
        off: &'static str,
        is_on: fn(&App) -> bool,
    },
}

impl Label {
    pub fn text(&self, app: &App) -> &'static str {
        match *self {
            Label::Fixed(s) => s,
            Label::Toggle { on, off, is_on } => {
                if is_on(app) {
                    on
                } else {
                    off
                }
            }
        }
    }
}

/// One line of a keymap: the keys (each with its action), how the keys are written, what
/// they do, and whether the footer shows them.
pub struct Binding {
    pub keys: &'static [(Key, Action)],
    pub shown: &'static str,
    pub label: Label,
    pub footer: bool,
    /// The longer description the `?` overlay gives, when the label is too terse.
    pub about: Option<&'static str>,
}

const fn bind(keys: &'static [(Key, Action)], shown: &'static str, label: &'static str) -> Binding {
    Binding {
        keys,
        shown,
        label: Label::Fixed(label),
        footer: true,
        about: None,
    }
}

const fn help_only(mut b: Binding) -> Binding {
    b.footer = false;
    b
}

const fn about(mut b: Binding, text: &'static str) -> Binding {
    b.about = Some(text);
    b
}

/// Keys that work on every screen (screens list some of them again for their footer).
pub const GLOBAL: &[Binding] = &[
    bind(&[(ch('?'), Action::Help)], "?", "this help"),
    bind(
        &[
            (ch('q'), Action::Quit),
            (
                Key {
                    code: KeyCode::Char('c'),
                    ctrl: true,
                },
                Action::Quit,
            ),
        ],
        "q / Ctrl-C",
        "quit (a server run by the dashboard stops with it)",
    ),
    bind(
        &[(key(KeyCode::Esc), Action::Back)],
        "Esc",
        "back one level; quits from the top",
    ),
    bind(
        &[
            (ch('1'), Action::GoOrgs),
            (ch('2'), Action::GoActivity),
            (ch('3'), Action::GoWebhooks),
            (ch('4'), Action::GoSchemas),
        ],
        "1 / 2 / 3 / 4",
        "organizations / activity of all organizations / webhooks / schemas",
    ),
    bind(
        &[
            (key(KeyCode::Up), Action::Up),
            (ch('k'), Action::Up),
            (key(KeyCode::Down), Action::Down),
            (ch('j'), Action::Down),
        ],
        "j k / arrows",
        "move",
    ),
    bind(
        &[
            (key(KeyCode::PageUp), Action::PageUp),
            (key(KeyCode::PageDown), Action::PageDown),
            (key(KeyCode::Home), Action::Top),
            (ch('g'), Action::Top),
            (key(KeyCode::End), Action::Bottom),
            (ch('G'), Action::Bottom),
        ],
        "PgUp PgDn g G",
        "page up, page down, first, last",
    ),
    bind(
        &[(key(KeyCode::Enter), Action::Open)],
        "Enter",
        "open the selected item",
    ),
    bind(
        &[(key(KeyCode::F(5)), Action::Refresh)],
        "F5",
        "reload counts",
    ),
];

const ORGS: &[Binding] = &[
    bind(&[(key(KeyCode::Enter), Action::Open)], "Enter", "open"),
    bind(&[(ch('n'), Action::NewOrg)], "n", "new"),
    bind(&[(ch('r'), Action::RenameOrg)], "r", "rename"),
    about(
        bind(&[(ch('d'), Action::DeleteOrg)], "d", "delete"),
        "delete (type the id)",
    ),
    bind(&[(ch('l'), Action::OrgActivity)], "l", "activity"),
    bind(&[(ch('?'), Action::Help)], "?", "help"),
    bind(&[(ch('q'), Action::Quit)], "q", "quit"),
];

const ORG: &[Binding] = &[
    about(
        bind(&[(ch('s'), Action::ToggleScim)], "s", "SCIM"),
        "SCIM on/off",
    ),
    bind(
        &[
            (key(KeyCode::Tab), Action::SwitchPane),
            (key(KeyCode::BackTab), Action::SwitchPane),
        ],
        "Tab",
        "pane",
    ),
    bind(&[(ch('a'), Action::Add)], "a", "add"),
    about(
        bind(
            &[
                (ch('x'), Action::Remove),
                (key(KeyCode::Delete), Action::Remove),
            ],
            "x",
            "remove",
        ),
        "remove or revoke",
    ),
    about(
        bind(&[(ch('i'), Action::IssueKey)], "i", "key"),
        "issue a key",
    ),
    about(
        bind(&[(ch('u'), Action::OpenDirectory)], "u", "users"),
        "users and groups",
    ),
    about(
        bind(&[(ch('l'), Action::OrgActivity)], "l", "log"),
        "activity",
    ),
    about(
        bind(&[(ch('c'), Action::Copy)], "c", "copy"),
        "copy the URL",
    ),
    help_only(about(
        bind(&[(ch('g'), Action::Guide)], "g", "connect"),
        "connect an IdP: its setup guide",
    )),
    help_only(bind(&[(ch('r'), Action::RenameOrg)], "r", "rename")),
    bind(&[(ch('?'), Action::Help)], "?", "help"),
];

const DIRECTORY: &[Binding] = &[
    bind(&[(key(KeyCode::Enter), Action::Open)], "Enter", "details"),
    bind(
        &[
            (key(KeyCode::Tab), Action::SwitchPane),
            (key(KeyCode::BackTab), Action::SwitchPane),
        ],
        "Tab",
        "users/groups",
    ),
    about(
        bind(&[(ch('/'), Action::Search)], "/", "search"),
        "search (a SCIM filter or a word)",
    ),
    bind(
        &[
            (key(KeyCode::Down), Action::Down),
            (ch('j'), Action::Down),
            (key(KeyCode::Up), Action::Up),
            (ch('k'), Action::Up),
        ],
        "j/k",
        "move",
    ),
    bind(&[(key(KeyCode::Esc), Action::Back)], "Esc", "back"),
];

const DETAIL: &[Binding] = &[
    bind(
        &[
            (key(KeyCode::Down), Action::Down),
            (ch('j'), Action::Down),
            (key(KeyCode::Up), Action::Up),
            (ch('k'), Action::Up),
        ],
        "j/k",
        "scroll",
    ),
    bind(
        &[(ch('n'), Action::PageDown), (ch('p'), Action::PageUp)],
        "n/p",
        "member page",
    ),
    bind(&[(key(KeyCode::Esc), Action::Back)], "Esc", "back"),
];

fn paused(app: &App) -> bool {
    app.activity.paused
}

fn errors_only(app: &App) -> bool {
    app.activity.errors_only
}

const ACTIVITY: &[Binding] = &[
    bind(&[(key(KeyCode::Enter), Action::Open)], "Enter", "details"),
    Binding {
        keys: &[
            (ch('p'), Action::TogglePause),
            (ch(' '), Action::TogglePause),
        ],
        shown: "p",
        label: Label::Toggle {
            on: "resume",
            off: "pause",
            is_on: paused,
        },
        footer: true,
        about: None,
    },
    Binding {
        keys: &[(ch('e'), Action::ToggleErrors)],
        shown: "e",
        label: Label::Toggle {
            on: "all",
            off: "errors only",
            is_on: errors_only,
        },
        footer: true,
        about: None,
    },
    bind(&[(key(KeyCode::Esc), Action::Back)], "Esc", "back"),
];

fn webhook_enabled(app: &App) -> bool {
    app.webhooks.current().is_some_and(|w| w.enabled)
}

const WEBHOOKS: &[Binding] = &[
    bind(&[(ch('a'), Action::Add)], "a", "add"),
    Binding {
        keys: &[(ch('d'), Action::ToggleEnabled)],
        shown: "d",
        label: Label::Toggle {
            on: "disable",
            off: "enable",
            is_on: webhook_enabled,
        },
        footer: true,
        about: None,
    },
    bind(&[(ch('r'), Action::RetryNow)], "r", "retry now"),
    about(
        bind(&[(ch('t'), Action::SendTest)], "t", "test"),
        "test event",
    ),
    bind(&[(ch('p'), Action::Replay)], "p", "replay"),
    bind(&[(ch('s'), Action::RotateSecret)], "s", "rotate secret"),
    bind(
        &[
            (ch('x'), Action::Remove),
            (key(KeyCode::Delete), Action::Remove),
        ],
        "x",
        "remove",
    ),
    bind(&[(key(KeyCode::Esc), Action::Back)], "Esc", "back"),
];

const SCHEMAS: &[Binding] = &[
    about(
        bind(&[(ch('a'), Action::Add)], "a", "add"),
        "declare a schema from a file",
    ),
    bind(
        &[
            (ch('x'), Action::Remove),
            (key(KeyCode::Delete), Action::Remove),
        ],
        "x",
        "remove",
    ),
    bind(&[(key(KeyCode::Esc), Action::Back)], "Esc", "back"),
];

const ACTIVITY_DETAIL: &[Binding] = &[bind(&[(key(KeyCode::Esc), Action::Back)], "Esc", "back")];

const GUIDE: &[Binding] = &[
    bind(
        &[
            (key(KeyCode::Tab), Action::SwitchPane),
            (key(KeyCode::Right), Action::SwitchPane),
        ],
        "Tab",
        "next IdP",
    ),
    bind(
        &[
            (key(KeyCode::Up), Action::Up),
            (key(KeyCode::Down), Action::Down),
        ],
        "↑↓",
        "scroll",
    ),
    about(
        bind(&[(ch('c'), Action::Copy)], "c", "copy"),
        "copy the URL",
    ),
    bind(&[(key(KeyCode::Esc), Action::Back)], "Esc", "back"),
];

const SECRET: &[Binding] = &[
    bind(&[(ch('c'), Action::Copy)], "c", "copy secret"),
    bind(
        &[
            (key(KeyCode::Enter), Action::Cancel),
            (key(KeyCode::Esc), Action::Cancel),
            (ch('q'), Action::Cancel),
            (ch('?'), Action::Cancel),
        ],
        "Enter/Esc",
        "close",
    ),
];

const HELP: &[Binding] = &[bind(
    &[
        (key(KeyCode::Esc), Action::Cancel),
        (key(KeyCode::Enter), Action::Cancel),
        (ch('q'), Action::Cancel),
        (ch('?'), Action::Cancel),
    ],
    "Esc",
    "close help",
)];

/// Text dialogs take every character as input; these are their other keys.
const FORM: &[Binding] = &[
    bind(&[(key(KeyCode::Enter), Action::Submit)], "Enter", "confirm"),
    bind(
        &[
            (key(KeyCode::Tab), Action::NextField),
            (key(KeyCode::BackTab), Action::NextField),
        ],
        "Tab",
        "next field",
    ),
    bind(&[(key(KeyCode::Esc), Action::Cancel)], "Esc", "cancel"),
    help_only(bind(
        &[(key(KeyCode::Backspace), Action::Backspace)],
        "Backspace",
        "erase",
    )),
];

/// The table of a screen.
pub fn screen_table(screen: Screen) -> &'static [Binding] {
    match screen {
        Screen::Orgs => ORGS,
        Screen::Org => ORG,
        Screen::Directory => DIRECTORY,
        Screen::Detail => DETAIL,
        Screen::Activity => ACTIVITY,
        Screen::ActivityDetail => ACTIVITY_DETAIL,
        Screen::Guide => GUIDE,
        Screen::Schemas => SCHEMAS,
        Screen::Webhooks => WEBHOOKS,
    }
}

/// The screens' tables with their titles, for the `?` overlay.
pub const SCREENS: &[(&str, Screen)] = &[
    ("Organizations", Screen::Orgs),
    ("Organization", Screen::Org),
    ("Connect an IdP", Screen::Guide),
    ("Directory", Screen::Directory),
    ("Group detail", Screen::Detail),
    ("Activity", Screen::Activity),
    ("Webhooks", Screen::Webhooks),
    ("Schemas", Screen::Schemas),
];

/// The table in force: the open dialog's, else the screen's.
pub fn active_table(app: &App) -> &'static [Binding] {
    match &app.dialog {
        Some(Dialog::Secret { .. }) => SECRET,
        Some(Dialog::Help) => HELP,
        Some(Dialog::Input { .. } | Dialog::Confirm { .. }) => FORM,
        None => screen_table(app.screen()),
    }
}

fn lookup(table: &[Binding], pressed: Key) -> Option<Action> {
    table
        .iter()
        .flat_map(|b| b.keys.iter())
        .find(|(k, _)| *k == pressed)
        .map(|(_, a)| *a)
}

/// Maps a key press to an action for the current screen or dialog.
pub fn dispatch(app: &App, event: KeyEvent) -> Option<Action> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    let pressed = Key {
        code: event.code,
        ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
    };
    // Ctrl-C quits from anywhere, dialogs included.
    if let Some(Action::Quit) = lookup(GLOBAL, pressed).filter(|_| pressed.ctrl) {
        return Some(Action::Quit);
    }
    match &app.dialog {
        Some(Dialog::Input { .. } | Dialog::Confirm { .. }) => {
            lookup(FORM, pressed).or(match event.code {
                KeyCode::Char(c) if !pressed.ctrl => Some(Action::Type(c)),
                _ => None,
            })
        }
        Some(_) => lookup(active_table(app), pressed),
        None => lookup(screen_table(app.screen()), pressed).or_else(|| lookup(GLOBAL, pressed)),
    }
}

/// The footer's entries: (keys as written, label).
pub fn footer(app: &App) -> Vec<(&'static str, &'static str)> {
    active_table(app)
        .iter()
        .filter(|b| b.footer)
        .map(|b| (b.shown, b.label.text(app)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within one table a key means one thing.
    #[test]
    fn no_table_binds_a_key_twice() {
        let tables: Vec<&[Binding]> = vec![
            GLOBAL,
            ORGS,
            ORG,
            DIRECTORY,
            DETAIL,
            ACTIVITY,
            ACTIVITY_DETAIL,
            WEBHOOKS,
            SECRET,
            HELP,
            FORM,
        ];
        for table in tables {
            let keys: Vec<Key> = table
                .iter()
                .flat_map(|b| b.keys.iter().map(|(k, _)| *k))
                .collect();
            for (i, k) in keys.iter().enumerate() {
                assert!(!keys[i + 1..].contains(k), "{k:?} is bound twice");
            }
        }
    }

    /// A screen that lists a global key for its footer gives it the global action.
    #[test]
    fn screens_agree_with_the_global_keys() {
        for (_, screen) in SCREENS.iter().chain(&[("", Screen::ActivityDetail)]) {
            for (k, action) in screen_table(*screen).iter().flat_map(|b| b.keys.iter()) {
                if let Some(global) = lookup(GLOBAL, *k)
                    && matches!(action, Action::Help | Action::Quit | Action::Back)
                {
                    assert_eq!(global, *action, "{k:?} on {screen:?}");
                }
            }
        }
    }
}
