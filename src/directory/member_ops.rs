//! A PATCH's member operations reduced to one net change of a group's members.

use std::collections::HashSet;

use crate::scim::filter::{CompValue, CompareOp, Filter};
use crate::store::MemberChange;

/// Net member change of a sequence of PATCH member operations, applied in order.
#[derive(Default)]
pub(super) struct MemberOps {
    clear: bool,
    add: Vec<String>,
    remove: Vec<String>,
    add_set: HashSet<String>,
    remove_set: HashSet<String>,
}

impl MemberOps {
    pub(super) fn add(&mut self, ids: Vec<String>) {
        for id in ids {
            if self.remove_set.remove(&id) {
                self.remove.retain(|r| *r != id);
            }
            if self.add_set.insert(id.clone()) {
                self.add.push(id);
            }
        }
    }

    pub(super) fn remove(&mut self, ids: Vec<String>) {
        for id in ids {
            if self.add_set.remove(&id) {
                self.add.retain(|a| *a != id);
            }
            if self.remove_set.insert(id.clone()) {
                self.remove.push(id);
            }
        }
    }

    pub(super) fn clear(&mut self) {
        *self = MemberOps {
            clear: true,
            ..Default::default()
        };
    }

    pub(super) fn into_change(self) -> MemberChange {
        MemberChange {
            clear: self.clear,
            remove: self.remove,
            add: self.add,
        }
    }
}

/// Member ids named by a filter on `members` that is a disjunction of `value eq`.
pub(super) fn member_ids_in_filter(f: &Filter) -> Option<Vec<String>> {
    match f {
        Filter::Compare(p, CompareOp::Eq, CompValue::Str(v))
            if p.attr.eq_ignore_ascii_case("value") && p.sub.is_none() =>
        {
            Some(vec![v.clone()])
        }
        Filter::Or(a, b) => {
            let mut ids = member_ids_in_filter(a)?;
            ids.extend(member_ids_in_filter(b)?);
            Some(ids)
        }
        _ => None,
    }
}
