//! Setup guides, one per IdP: the steps in that IdP's own words with an organization's SCIM
//! base URL, domains and state filled in. The texts live in `assets/guides/` and are built
//! into the binary. Pure.

/// The IdPs a guide exists for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuideIdp {
    Okta,
    Entra,
    OneLogin,
    JumpCloud,
    Google,
    Generic,
}

impl GuideIdp {
    pub const ALL: [GuideIdp; 6] = [
        GuideIdp::Okta,
        GuideIdp::Entra,
        GuideIdp::OneLogin,
        GuideIdp::JumpCloud,
        GuideIdp::Google,
        GuideIdp::Generic,
    ];

    /// The name on the command line (`--idp okta`).
    pub fn name(self) -> &'static str {
        match self {
            GuideIdp::Okta => "okta",
            GuideIdp::Entra => "entra",
            GuideIdp::OneLogin => "onelogin",
            GuideIdp::JumpCloud => "jumpcloud",
            GuideIdp::Google => "google",
            GuideIdp::Generic => "generic",
        }
    }

    /// The name people know it by.
    pub fn label(self) -> &'static str {
        match self {
            GuideIdp::Okta => "Okta",
            GuideIdp::Entra => "Microsoft Entra ID",
            GuideIdp::OneLogin => "OneLogin",
            GuideIdp::JumpCloud => "JumpCloud",
            GuideIdp::Google => "Google Workspace",
            GuideIdp::Generic => "Any SCIM client",
        }
    }

    pub fn parse(name: &str) -> Option<GuideIdp> {
        GuideIdp::ALL
            .into_iter()
            .find(|i| i.name().eq_ignore_ascii_case(name))
    }

    fn template(self) -> &'static str {
        match self {
            GuideIdp::Okta => include_str!("../../assets/guides/okta.md"),
            GuideIdp::Entra => include_str!("../../assets/guides/entra.md"),
            GuideIdp::OneLogin => include_str!("../../assets/guides/onelogin.md"),
            GuideIdp::JumpCloud => include_str!("../../assets/guides/jumpcloud.md"),
            GuideIdp::Google => include_str!("../../assets/guides/google.md"),
            GuideIdp::Generic => include_str!("../../assets/guides/generic.md"),
        }
    }
}

/// What a guide names about the organization.
pub struct GuideFacts<'a> {
    pub org: &'a str,
    pub org_name: &'a str,
    pub base_url: &'a str,
    pub domains: &'a [String],
    pub scim_enabled: bool,
}

/// The guide for `idp` with the organization's facts filled in: `{org}`, `{org_name}`,
/// `{base_url}`, `{domains}`, `{scim_state}`; `{{` and `}}` stand for braces.
pub fn render(idp: GuideIdp, facts: &GuideFacts<'_>) -> String {
    let domains = if facts.domains.is_empty() {
        format!(
            "none yet (scimdesk domain add {} example.com: users' addresses must be in them)",
            facts.org
        )
    } else {
        facts.domains.join(", ")
    };
    let scim_state = if facts.scim_enabled {
        "is on".to_string()
    } else {
        format!("is OFF: turn it on with scimdesk org scim {} on", facts.org)
    };
    let text = idp.template();
    let mut out = String::with_capacity(text.len() + 256);
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with("{{") || rest.starts_with("}}") {
            out.push_str(&rest[..1]);
            rest = &rest[2..];
            continue;
        }
        let value = rest.find('}').and_then(|end| {
            let v = match &rest[1..end] {
                "org" => facts.org,
                "org_name" => facts.org_name,
                "base_url" => facts.base_url,
                "domains" => domains.as_str(),
                "scim_state" => scim_state.as_str(),
                _ => return None,
            };
            Some((v, end))
        });
        match value {
            Some((v, end)) => {
                out.push_str(v);
                rest = &rest[end + 1..];
            }
            None => {
                out.push_str(&rest[..1]);
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(domains: &[String], on: bool) -> GuideFacts<'_> {
        GuideFacts {
            org: "acme",
            org_name: "Acme Corp",
            base_url: "https://scim.example.com/scim/v2/acme",
            domains,
            scim_enabled: on,
        }
    }

    #[test]
    fn every_guide_fills_in_the_organization() {
        let domains = vec!["acme.com".to_string()];
        for idp in GuideIdp::ALL {
            let text = render(idp, &facts(&domains, true));
            assert!(
                text.contains("https://scim.example.com/scim/v2/acme"),
                "{idp:?}"
            );
            assert!(text.contains("Acme Corp (acme)"), "{idp:?}");
            // No placeholder is left, and no stray single brace.
            for p in ["{org", "{base_url", "{domains", "{scim_state"] {
                assert!(!text.contains(p), "{idp:?}: {p}");
            }
            insta::assert_snapshot!(format!("guide_{}", idp.name()), text);
        }
    }

    #[test]
    fn a_guide_says_what_is_missing() {
        let text = render(GuideIdp::Okta, &facts(&[], false));
        assert!(text.contains("SCIM is OFF: turn it on with scimdesk org scim acme on"));
        assert!(text.contains("domains: none yet"));
        let generic = render(GuideIdp::Generic, &facts(&[], true));
        assert!(generic.contains("/Users/{id}"), "braces survive");
        assert_eq!(GuideIdp::parse("ENTRA"), Some(GuideIdp::Entra));
        assert_eq!(GuideIdp::parse("ping"), None);
    }
}
