//! Which systems and workloads a run measures (`--systems`, `--workloads`): everything by default,
//! a part of it to profile one workload or to compare before and after a change.

use serde::Serialize;

/// Every system and what it can run.
pub const CATALOGUE: [(&str, &[&str]); 5] = [
    ("embedded", &["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8"]),
    ("distributed", &["W1", "W2", "W2s", "W3", "W4", "W5", "W6", "W7", "W8"]),
    ("celery", &["W1", "W2", "W3", "W4", "W5", "W8"]),
    ("restate", &["W2", "W3", "W4", "W5", "W8"]),
    ("limits", &["rabbitmq", "mongodb", "sqlite"]),
];

/// The systems and workloads to run; an empty list means all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// `embedded`, `distributed`, `celery`, `restate`, `limits`.
    pub systems: Vec<String>,
    /// `W1`…`W8`, `W2s`, `rabbitmq`, `mongodb`, `sqlite`.
    pub workloads: Vec<String>,
}

impl Selection {
    /// A selection of `systems` and `workloads`, refused with the valid names if one is unknown.
    pub fn new(systems: Vec<String>, workloads: Vec<String>) -> anyhow::Result<Self> {
        let known_systems: Vec<&str> = CATALOGUE.iter().map(|(s, _)| *s).collect();
        let mut known_workloads: Vec<&str> = CATALOGUE.iter().flat_map(|(_, w)| w.iter().copied()).collect();
        known_workloads.sort_unstable();
        known_workloads.dedup();
        for s in &systems {
            anyhow::ensure!(known_systems.contains(&s.as_str()), "unknown system `{s}`: choose from {known_systems:?}");
        }
        for w in &workloads {
            anyhow::ensure!(
                known_workloads.contains(&w.as_str()),
                "unknown workload `{w}`: choose from {known_workloads:?}"
            );
        }
        let selection = Self { systems, workloads };
        anyhow::ensure!(
            CATALOGUE.iter().any(|(s, _)| selection.wants_system(s)),
            "the selection {} matches nothing: Celery runs W1–W5, Restate W2–W5, the limits are rabbitmq, mongodb and sqlite",
            selection.tag()
        );
        Ok(selection)
    }

    /// What `system` can run (nothing for an unknown system).
    pub fn workloads_of(system: &str) -> &'static [&'static str] {
        CATALOGUE.iter().find(|(s, _)| *s == system).map_or(&[], |(_, w)| w)
    }

    /// The workloads of `system` this selection measures, in the catalogue's order.
    pub fn chosen(&self, system: &'static str) -> impl Iterator<Item = &'static str> + '_ {
        Self::workloads_of(system).iter().copied().filter(move |w| self.wants(system, w))
    }

    /// Whether `workload` on `system` is measured.
    pub fn wants(&self, system: &str, workload: &str) -> bool {
        let listed = |list: &[String], name: &str| list.is_empty() || list.iter().any(|x| x == name);
        listed(&self.systems, system) && listed(&self.workloads, workload)
    }

    /// Whether anything `system` can run is measured.
    pub fn wants_system(&self, system: &'static str) -> bool {
        self.chosen(system).next().is_some()
    }

    /// Whether this is the whole run.
    pub fn is_everything(&self) -> bool {
        self.systems.is_empty() && self.workloads.is_empty()
    }

    /// A file-name-safe name of the selection (`embedded-W2`), empty for the whole run.
    pub fn tag(&self) -> String {
        self.systems.iter().chain(&self.workloads).cloned().collect::<Vec<_>>().join("-")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_empty_selection_wants_everything() {
        let all = Selection::default();
        assert!(all.is_everything());
        assert!(CATALOGUE.iter().all(|(s, ws)| ws.iter().all(|w| all.wants(s, w))));
        assert_eq!(all.tag(), "");
    }

    #[test]
    fn systems_and_workloads_narrow_each_other() {
        let s = Selection::new(strings(&["embedded", "celery"]), strings(&["W2"])).unwrap();
        assert!(s.wants("embedded", "W2") && s.wants("celery", "W2"));
        assert!(!s.wants("distributed", "W2") && !s.wants("embedded", "W3") && !s.wants("limits", "sqlite"));
        assert_eq!(s.chosen("embedded").collect::<Vec<_>>(), ["W2"]);
        assert_eq!(Selection::default().chosen("limits").collect::<Vec<_>>(), ["rabbitmq", "mongodb", "sqlite"]);
        assert!(s.wants_system("celery") && !s.wants_system("distributed") && !s.wants_system("limits"));
        assert_eq!(s.tag(), "embedded-celery-W2");
    }

    #[test]
    fn unknown_names_and_empty_matches_are_refused_with_the_choices() {
        let e = Selection::new(strings(&["temporal"]), vec![]).unwrap_err().to_string();
        assert!(e.contains("unknown system `temporal`") && e.contains("celery"), "{e}");
        let e = Selection::new(vec![], strings(&["W9"])).unwrap_err().to_string();
        assert!(e.contains("unknown workload `W9`") && e.contains("W7"), "{e}");
        let e = Selection::new(strings(&["celery"]), strings(&["W7"])).unwrap_err().to_string();
        assert!(e.contains("matches nothing"), "{e}");
    }
}
