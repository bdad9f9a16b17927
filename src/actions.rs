//! Maintenance and deploy actions: the declared list and the one dispatch
//! every run goes through, from the API and from `pitstop run`.
//!
//! Actions are WebAssembly plugins declared in `actions.toml`; until the
//! plugin host lands, no action is declared and every name is unknown, but
//! requests already take the path they will take then: parse, look up,
//! refuse a second concurrent run, run, record in the history.

use serde::Serialize;

use crate::error::{Error, Result};

/// Which endpoint an action belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Maintenance,
    Deploy,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Maintenance => "maintenance",
            ActionKind::Deploy => "deploy",
        }
    }
}

/// A request to run an action, from the API body or the command line.
#[derive(Debug, Clone)]
pub struct ActionRequest {
    pub action: String,
    pub service: Option<String>,
}

/// One declared action, as `/deployment/actions` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ActionInfo {
    pub name: String,
    pub kind: ActionKind,
    pub description: String,
}

/// The declared actions (none until plugins land).
#[derive(Debug, Default)]
pub struct Actions {
    declared: Vec<ActionInfo>,
}

impl Actions {
    pub fn list(&self) -> &[ActionInfo] {
        &self.declared
    }

    /// Finds the action `name` of `kind`; an action of the other kind is as
    /// unknown here as a name never declared.
    pub fn lookup(&self, kind: ActionKind, name: &str) -> Result<&ActionInfo> {
        self.declared
            .iter()
            .find(|a| a.kind == kind && a.name == name)
            .ok_or_else(|| Error::UnknownAction(name.to_string()))
    }
}
