//! Organization-wide targets, end to end: the `s3prio` binary discovers the accounts of an
//! emulated organization (Organizations over JSON 1.1), assumes a role in each through the
//! emulated STS, and reconciles every account in two regions; an account that joins is picked
//! up at the next discovery, an account whose role refuses is reported while the others
//! converge, and two shards split the targets without overlap. Counted by the emulator.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::process::{http, Daemon};
use common::wait::wait_until;
use common::{quiet_emulator, tag};
use s3prio::emulator::{EmulatorHandle, JobSpec, JobStatus, OrgAccountSpec};

const ROLE: &str = "s3prio";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// The organization of the acceptance test: 3 OUs (one nested), 40 member accounts spread
/// over them and the root, and the management account (the emulator's own), each with the
/// role and one urgent job at priority 10: 41 accounts, 82 targets in two regions. Returns
/// the accounts' ids and the id of the nested OU.
fn organization(emu: &EmulatorHandle, accounts: usize) -> (Vec<String>, String) {
    let root = emu.org_root_id();
    let a = emu.add_ou(&root, "analytics").expect("OU");
    let b = emu.add_ou(&root, "backup").expect("OU");
    let c = emu.add_ou(&b, "backup-eu").expect("nested OU");
    let parents = [None, Some(a), Some(b), Some(c.clone())];
    let mut ids: Vec<String> = (0..accounts)
        .map(|i| {
            let id = format!("{:012}", 500_000_000_000u64 + i as u64);
            emu.add_account(OrgAccountSpec {
                parent: parents[i % parents.len()].clone(),
                ..OrgAccountSpec::new(id.clone(), format!("member-{i:02}"))
            })
            .expect("account added");
            add_member(emu, &id);
            id
        })
        .collect();
    add_member(emu, common::ACCOUNT);
    ids.push(common::ACCOUNT.to_string());
    (ids, c)
}

/// The role and one urgent job at priority 10 in `account`.
fn add_member(emu: &EmulatorHandle, account: &str) {
    emu.set_role_assumable(account, ROLE, true);
    emu.insert_job(JobSpec {
        account_id: account.to_string(),
        description: Some("nightly copy".into()),
        priority: 10,
        status: JobStatus::Active,
        tags: vec![tag("urgent", "true")],
        ..Default::default()
    });
}

fn config(endpoint: &str, discovery: &str) -> String {
    format!(
        r#"
[reconcile]
interval = "2s"
shutdown_timeout = "5s"

[http]
listen = "127.0.0.1:0"

[[target_sets]]
name = "org"
role_arn = "arn:aws:iam::{{account_id}}:role/{ROLE}"
regions = ["{r0}", "{r1}"]
discovery_interval = "{discovery}"
endpoint_url = "{endpoint}"
organizations_endpoint_url = "{endpoint}"
sts_endpoint_url = "{endpoint}"
request_timeout = "5s"
rate_limit = {{ requests_per_second = 50, burst = 50 }}

[[rules]]
name = "urgent"
when = {{ tags = {{ urgent = "true" }} }}
action = {{ set = 900 }}
"#,
        r0 = REGIONS[0],
        r1 = REGIONS[1],
    )
}

fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("s3prio.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Every job of `accounts` is at `priority`.
fn all_at(emu: &EmulatorHandle, accounts: &[String], priority: i32) -> bool {
    accounts.iter().all(|a| {
        emu.job_ids(a)
            .iter()
            .all(|id| emu.job(a, id).is_some_and(|j| j.priority == priority))
    })
}

/// principal -> the `ACCOUNT/REGION` targets it listed.
fn listers(emu: &EmulatorHandle) -> BTreeMap<String, BTreeSet<String>> {
    emu.stats()
        .list_jobs_by_principal
        .into_iter()
        .map(|(p, targets)| (p, targets.into_keys().collect()))
        .collect()
}

fn metric_line(metrics: &str, prefix: &str) -> Option<String> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_is_discovered_reconciled_grown_and_a_refusing_role_reported() {
    let emu = quiet_emulator().await;
    let (mut ids, nested) = organization(&emu, 40);
    // One account's role exists but does not trust the daemon.
    let refusing = ids.remove(7);
    emu.set_role_assumable(&refusing, ROLE, false);
    let home = tempfile::tempdir().expect("tempdir");
    let path = write_config(home.path(), &config(&emu.endpoint_url(), "10s"));
    let daemon = Daemon::start(&path, home.path(), &[]);
    let addr = daemon.http_addr().await;

    wait_until(
        "every reachable account converges",
        Duration::from_secs(90),
        || all_at(&emu, &ids, 900),
    )
    .await;
    // Both regions of every reachable account were listed, through its own role.
    let listed: BTreeSet<String> = listers(&emu).into_values().flatten().collect();
    for id in &ids {
        for r in REGIONS {
            assert!(
                listed.contains(&format!("{id}/{r}")),
                "{id}/{r} never listed"
            );
        }
    }
    let stats = emu.stats();
    assert_eq!(
        stats.foreign_role_calls, 0,
        "a call went out with another account's role"
    );
    assert!(stats.assumed_role_calls > 0);

    // The refusing account: untouched, reported as unavailable, the daemon ready for nothing
    // else to be wrong.
    assert!(all_at(&emu, std::slice::from_ref(&refusing), 10));
    let (_, metrics) = http(&addr, "GET", "/metrics");
    let unavailable = format!(
        "s3prio_target_available{{target=\"{refusing}/{}\"}}",
        REGIONS[0]
    );
    assert_eq!(
        metric_line(&metrics, &unavailable).as_deref(),
        Some(format!("{unavailable} 0").as_str()),
        "{metrics}"
    );
    let available = format!(
        "s3prio_target_available{{target=\"{}/{}\"}}",
        ids[0], REGIONS[1]
    );
    assert_eq!(
        metric_line(&metrics, &available).as_deref(),
        Some(format!("{available} 1").as_str())
    );
    assert!(
        metrics.contains("s3prio_targets{kind=\"owned\"} 82"),
        "{metrics}"
    );
    let (status, body) = http(&addr, "GET", "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains(&refusing) && body.contains("AccessDenied"),
        "/readyz does not say which target and why: {body}"
    );

    // An account joins the nested OU: reconciled after the next discovery, no restart.
    let joined = "599999999999".to_string();
    emu.add_account(OrgAccountSpec {
        parent: Some(nested),
        ..OrgAccountSpec::new(joined.clone(), "member-new")
    })
    .expect("account joins");
    add_member(&emu, &joined);
    wait_until("the new account converges", Duration::from_secs(45), || {
        all_at(&emu, std::slice::from_ref(&joined), 900)
    })
    .await;
    let (_, metrics) = http(&addr, "GET", "/metrics");
    assert!(
        metrics.contains("s3prio_targets{kind=\"owned\"} 84"),
        "{metrics}"
    );

    // An account leaves: its loops stop, the others go on.
    emu.remove_account(&ids[0]);
    wait_until(
        "the departed account's loops stop",
        Duration::from_secs(45),
        || {
            let (_, m) = http(&addr, "GET", "/metrics");
            m.contains("s3prio_targets{kind=\"owned\"} 82")
        },
    )
    .await;
    assert!(daemon.log().contains("its loop stops"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_reconcile_every_target_exactly_once() {
    let emu = quiet_emulator().await;
    let (ids, _) = organization(&emu, 40);
    let home = tempfile::tempdir().expect("tempdir");
    let path = write_config(home.path(), &config(&emu.endpoint_url(), "10m"));
    let shards: Vec<Daemon> = (0..2)
        .map(|i| {
            Daemon::start(
                &path,
                home.path(),
                &[
                    ("S3PRIO_SHARD", format!("{i}/2")),
                    ("AWS_ACCESS_KEY_ID", format!("AKIDSHARD{i}")),
                ],
            )
        })
        .collect();
    wait_until(
        "both shards converge the organization",
        Duration::from_secs(90),
        || all_at(&emu, &ids, 900),
    )
    .await;
    // Let a few more cycles run: ownership must hold in the steady state too.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let by = listers(&emu);
    let zero = by.get("AKIDSHARD0").cloned().unwrap_or_default();
    let one = by.get("AKIDSHARD1").cloned().unwrap_or_default();
    let all: BTreeSet<String> = ids
        .iter()
        .flat_map(|id| REGIONS.map(|r| format!("{id}/{r}")))
        .collect();
    assert_eq!(by.len(), 2, "only the two shards list: {:?}", by.keys());
    assert!(
        zero.is_disjoint(&one),
        "listed by both: {:?}",
        zero.intersection(&one).collect::<Vec<_>>()
    );
    assert_eq!(zero.union(&one).cloned().collect::<BTreeSet<_>>(), all);
    // Rendezvous hashing splits 82 targets roughly in half.
    assert!(
        zero.len() >= 20 && one.len() >= 20,
        "{} / {}",
        zero.len(),
        one.len()
    );

    for (i, d) in shards.iter().enumerate() {
        let (_, metrics) = http(&d.http_addr().await, "GET", "/metrics");
        let info = format!("s3prio_shard_info{{shard=\"{i}\",shards=\"2\"}} 1");
        assert!(metrics.contains(&info), "shard {i}: {metrics}");
        let owned = if i == 0 { zero.len() } else { one.len() };
        assert!(
            metrics.contains(&format!("s3prio_targets{{kind=\"owned\"}} {owned}")),
            "shard {i} owns {owned}: {metrics}"
        );
    }
}

/// Static targets change live too: a `[[targets]]` table added to the file gets a loop and is
/// reconciled without a restart; one removed has its loop stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_target_added_to_the_file_is_reconciled_without_a_restart() {
    let emu = quiet_emulator().await;
    let second = "222222222222";
    add_member(&emu, common::ACCOUNT);
    add_member(&emu, second);
    let target = |account: &str| {
        format!(
            "[[targets]]\naccount_id = \"{account}\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\n",
            emu.endpoint_url()
        )
    };
    let head = "[reconcile]\ninterval = \"2s\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n[[rules]]\nname = \"urgent\"\nwhen = { tags = { urgent = \"true\" } }\naction = { set = 900 }\n\n";
    let home = tempfile::tempdir().expect("tempdir");
    let path = write_config(home.path(), &format!("{head}{}", target(common::ACCOUNT)));
    let daemon = Daemon::start(&path, home.path(), &[]);
    let first = vec![common::ACCOUNT.to_string()];
    wait_until(
        "the first target converges",
        Duration::from_secs(30),
        || all_at(&emu, &first, 900),
    )
    .await;
    assert!(all_at(&emu, &[second.to_string()], 10), "not a target yet");

    std::fs::write(
        &path,
        format!("{head}{}{}", target(common::ACCOUNT), target(second)),
    )
    .expect("edit");
    wait_until(
        "the added target converges",
        Duration::from_secs(30),
        || all_at(&emu, &[second.to_string()], 900),
    )
    .await;

    std::fs::write(&path, format!("{head}{}", target(second))).expect("edit");
    let addr = daemon.http_addr().await;
    wait_until(
        "the removed target's loop stops",
        Duration::from_secs(30),
        || {
            let (_, m) = http(&addr, "GET", "/metrics");
            m.contains("s3prio_targets{kind=\"owned\"} 1")
                && !m.contains(&format!(
                    "s3prio_target_available{{target=\"{}/us-east-1\"}}",
                    common::ACCOUNT
                ))
        },
    )
    .await;
    assert!(daemon.log().contains("its loop stops"), "{}", daemon.log());
}
