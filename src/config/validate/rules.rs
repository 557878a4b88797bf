//! `[[rules]]`: names, and the action each rule takes (its value and its bounds).

use std::collections::BTreeMap;

use super::super::raw::{RawAction, RawRule};
use super::conditions::conditions;
use super::{duration, priority, VResult, P};
use crate::policy::{Action, Rule, ValueAction};

pub(super) fn rules(
    p: &P,
    raw: &[RawRule],
    windows: &BTreeMap<String, usize>,
    no_store: bool,
) -> VResult<Vec<Rule>> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let rp = p.i(i);
        if r.name.trim().is_empty() {
            return Err(rp.k("name").err(
                "empty rule name",
                Some("give every rule a short unique name".to_string()),
            ));
        }
        if let Some(first) = seen.insert(r.name.as_str(), i) {
            return Err(rp.k("name").err(
                format!("duplicate rule name `{}` (also rules[{first}])", r.name),
                Some("rule names must be unique: they label plans and metrics".to_string()),
            ));
        }
        let when = match &r.when {
            None => Vec::new(),
            Some(c) => conditions(&rp.k("when"), c, windows)?,
        };
        let action = action(&rp.k("action"), &r.action, no_store)?;
        out.push(Rule {
            name: r.name.clone(),
            when,
            action,
        });
    }
    Ok(out)
}

fn action(p: &P, a: &RawAction, no_store: bool) -> VResult<Action> {
    let value = value(p, a)?;
    let at_least = a
        .at_least
        .map(|n| priority(&p.k("at_least"), n))
        .transpose()?;
    let at_most = a
        .at_most
        .map(|n| priority(&p.k("at_most"), n))
        .transpose()?;
    if value.is_none() && at_least.is_none() && at_most.is_none() {
        return Err(p.err(
            "empty action",
            Some(
                "give one of set / raise / lower / age_boost / baseline, and/or at_least / at_most"
                    .to_string(),
            ),
        ));
    }
    if let (Some(lo), Some(hi)) = (at_least, at_most) {
        if lo > hi {
            return Err(p
                .k("at_least")
                .err(format!("at_least {lo} is greater than at_most {hi}"), None));
        }
    }
    if let (Some((key, v)), true) = (value, no_store) {
        if v.is_relative() {
            return Err(p.k(key).key_err(
                format!("`{key}` is relative to the job's baseline, but no baseline store is enabled"),
                Some("enable a store in [baseline] (store = [\"tag\"] or [\"file\"]), or use an absolute `set`".to_string()),
            ));
        }
    }
    Ok(Action {
        value: value.map(|v| v.1),
        at_least,
        at_most,
    })
}

/// The action's one value (`set`, `raise`, `lower`, `age_boost` or `baseline`) and its key.
fn value(p: &P, a: &RawAction) -> VResult<Option<(&'static str, ValueAction)>> {
    let mut values: Vec<(&'static str, ValueAction)> = Vec::new();
    if let Some(n) = a.set {
        values.push(("set", ValueAction::Set(priority(&p.k("set"), n)?)));
    }
    if let Some(n) = a.raise {
        values.push(("raise", ValueAction::Raise(priority(&p.k("raise"), n)?)));
    }
    if let Some(n) = a.lower {
        values.push(("lower", ValueAction::Lower(priority(&p.k("lower"), n)?)));
    }
    if let Some(b) = &a.age_boost {
        let bp = p.k("age_boost");
        values.push((
            "age_boost",
            ValueAction::AgeBoost {
                every: duration(&bp.k("every"), &b.every, true)?,
                by: priority(&bp.k("by"), b.by)?,
                max: priority(&bp.k("max"), b.max)?,
            },
        ));
    }
    match a.baseline {
        Some(true) => values.push(("baseline", ValueAction::Baseline)),
        Some(false) => {
            return Err(p.k("baseline").key_err(
                "`baseline = false` has no effect",
                Some(
                    "write `baseline = true` to keep jobs at their baseline, or remove the key"
                        .to_string(),
                ),
            ))
        }
        None => {}
    }
    if values.len() > 1 {
        let names: Vec<&str> = values.iter().map(|v| v.0).collect();
        return Err(p.k(values[1].0).key_err(
            format!("an action has one value, found {}", names.join(" and ")),
            Some("use one of set / raise / lower / age_boost / baseline; add at_least / at_most for bounds, or split into two rules".to_string()),
        ));
    }
    Ok(values.first().copied())
}
