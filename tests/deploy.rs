//! The deployment files agree with the daemon: their configs pass `s3prio check`, and every
//! metric the alerts and the dashboard name is one the daemon exports.

use std::collections::BTreeSet;
use std::process::Command;

use s3prio::telemetry::metrics::{ApiLabels, CallOutcome, ChangeLabels, JobLabels};
use s3prio::telemetry::Metrics;

fn check(path: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_s3prio"))
        .args(["check", "--config", path])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{path} fails `s3prio check`:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{path}: {}", String::from_utf8_lossy(&out.stdout).trim());
}

#[test]
fn kubernetes_configmap_config_passes_check() {
    let kustomization = std::fs::read_to_string("deploy/kubernetes/kustomization.yaml").unwrap();
    assert!(
        kustomization.contains("- s3prio.toml"),
        "the ConfigMap is generated from deploy/kubernetes/s3prio.toml"
    );
    check("deploy/kubernetes/s3prio.toml");
}

#[test]
fn systemd_example_config_passes_check() {
    check("deploy/systemd/s3prio.toml");
}

#[test]
fn example_and_demo_configs_pass_check() {
    check("config/s3prio.example.toml");
    check("config/demo.toml");
}

/// Every metric name the daemon exports (families and their sample names).
fn exported() -> BTreeSet<String> {
    let m = Metrics::new();
    m.init_target("t");
    m.init_rules("t", ["r"].into_iter());
    m.api_requests
        .get_or_create(&ApiLabels {
            target: "t".into(),
            operation: "ListJobs",
            outcome: CallOutcome::ok,
        })
        .inc();
    m.priority_changes
        .get_or_create(&ChangeLabels {
            target: "t".into(),
            rule: "r".into(),
        })
        .inc();
    m.jobs
        .get_or_create(&JobLabels {
            target: "t".into(),
            status: "Active".into(),
        })
        .set(1);
    m.rate_limit_current_rps
        .get_or_create(&Metrics::target("t"))
        .set(1.0);
    m.retry_delay
        .get_or_create(&Metrics::target("t"))
        .observe(0.1);
    let text = m.encode();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            names.insert(rest.split(' ').next().unwrap_or_default().to_string());
        } else if !line.starts_with('#') {
            let series = line.rsplit_once(' ').map(|(s, _)| s).unwrap_or(line);
            names.insert(series.split('{').next().unwrap_or_default().to_string());
        }
    }
    names
}

#[test]
fn alerts_and_dashboard_name_only_exported_metrics() {
    let exported = exported();
    let re = regex::Regex::new(r"s3prio_[a-z_]+").unwrap();
    let mut checked = 0;
    for file in [
        "deploy/prometheus/alerts.yml",
        "deploy/prometheus/grafana-dashboard.json",
    ] {
        let text = std::fs::read_to_string(file).unwrap();
        for m in re.find_iter(&text) {
            let name = m.as_str();
            assert!(
                exported.contains(name),
                "{file} names `{name}`, which the daemon does not export. Exported: {exported:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} metric references found");
}
