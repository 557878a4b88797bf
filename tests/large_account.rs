//! Large accounts on the default settings: tags read only when they can matter, a new urgent job
//! written while a long refresh runs, tag edits picked up within the documented staleness.
//! In-process reconcilers against the emulator, through the real `aws-sdk-s3control` client.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::*;
use s3prio::emulator::{JobSpec, JobStatus};
use s3prio::reconcile::CycleStop;

const URGENT_RULE: &str = r#"
[[rules]]
name = "urgent"
when = { tags = { urgent = "true" } }
action = { set = 900 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_free_policy_with_the_tag_store_reads_each_job_once_then_only_lists() {
    let emu = quiet_emulator().await;
    let raise = insert_described(&emu, 30, "raise", 100);
    insert_described(&emu, 270, "steady", 100);
    // The defaults (tag store, opt-out tag), a short tags_ttl so that any re-read would show.
    let cfg = parse(&config_text(
        &emu.endpoint_url(),
        500.0,
        r#"
[reconcile]
tags_ttl = "1s"

[[rules]]
name = "raise"
when = { description_glob = "raise-*" }
action = { set = 500 }
"#,
    ));
    let mut rig = rig(&cfg).await;
    emu.reset_stats();
    let first = rig.reconciler.cycle(&cfg, Utc::now()).await.unwrap();
    assert_eq!(first.written, 30, "{}", first.summary());
    for id in &raise {
        assert_eq!(priority(&emu, id), 500);
    }
    let s = emu.stats();
    // Each job's memory read once, the 30 changes' memory tags and priorities written.
    assert_eq!(s.count("GetJobTagging", "ok"), 300, "{:?}", s.by_operation);
    assert_eq!(s.count("PutJobTagging", "ok"), 30);
    assert_eq!(s.count("UpdateJobPriority", "ok"), 30);

    for _ in 0..3 {
        // Longer than tags_ttl: nothing the policy reads is a tag, so nothing is re-read.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        emu.reset_stats();
        let r = rig.reconciler.cycle(&cfg, Utc::now()).await.unwrap();
        let s = emu.stats();
        assert_eq!(r.written, 0);
        assert_eq!(
            s.by_operation.get("GetJobTagging"),
            None,
            "{:?}",
            s.by_operation
        );
        assert_eq!(s.total, s.count("ListJobs", "ok"), "{:?}", s.by_operation);
    }
    emu.shutdown().await;
}

/// Counts GetJobTagging requests until `job` reaches `priority`; returns that count.
async fn reads_before_write(
    emu: &s3prio::emulator::EmulatorHandle,
    job: &str,
    priority_wanted: i32,
) -> u64 {
    loop {
        let reads = emu.stats().count("GetJobTagging", "ok");
        if priority(emu, job) == priority_wanted {
            return reads;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_urgent_job_is_written_in_the_first_cycle_that_lists_it_during_a_long_refresh() {
    let emu = quiet_emulator().await;
    insert_jobs(&emu, 2000, 0, 100);
    let cfg = parse(&config_text(
        &emu.endpoint_url(),
        400.0,
        &format!("[reconcile]\ntags_ttl = \"1s\"\ntags_refresh_share = 1.0\n{URGENT_RULE}"),
    ));
    let mut rig = rig(&cfg).await;
    let first = rig.reconciler.cycle(&cfg, Utc::now()).await.unwrap();
    assert_eq!((first.listed, first.written), (2000, 0));
    // Every job's tags are now due for a refresh; a new urgent job arrives.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let urgent = emu.insert_job(JobSpec {
        account_id: ACCOUNT.to_string(),
        description: Some("late urgent copy".into()),
        priority: 100,
        status: JobStatus::Active,
        tags: vec![tag("urgent", "true")],
        ..Default::default()
    });
    emu.reset_stats();
    let stop = CycleStop::default();
    let watcher = {
        let stop = stop.clone();
        let emu = &emu;
        let urgent = urgent.clone();
        async move {
            let reads = reads_before_write(emu, &urgent, 900).await;
            // Let the refresh go on a little, then end the cycle as the cadence would.
            tokio::time::sleep(Duration::from_millis(300)).await;
            stop.wind_down();
            reads
        }
    };
    let (report, reads_at_write) =
        tokio::join!(rig.reconciler.cycle_until(&cfg, Utc::now(), stop), watcher);
    let report = report.unwrap();
    let s = emu.stats();
    println!(
        "urgent job written after {reads_at_write} tag reads of the cycle; {} reads in all; {}",
        s.count("GetJobTagging", "ok"),
        report.summary()
    );
    assert_eq!(priority(&emu, &urgent), 900);
    assert_eq!(report.written, 1);
    // Written among the first reads of the cycle, not after the refresh of the 2,000 others.
    // At 400 req/s the calls in flight (up to 16) finish in any order, so the read, the memory
    // tags and the priority of the urgent job each come back among about 16 refresh reads.
    assert!(reads_at_write <= 100, "{reads_at_write} reads went first");
    assert!(
        s.count("GetJobTagging", "ok") > reads_at_write + 50,
        "the refresh was still running when the urgent job was written: {:?}",
        s.by_operation
    );
    assert!(report.deferred_reads > 0, "{}", report.summary());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_edit_is_picked_up_within_the_refresh_interval() {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 20, 0, 100);
    let cfg = parse(&config_text(
        &emu.endpoint_url(),
        200.0,
        &format!(
            "[reconcile]\ntags_ttl = \"1s\"\ntags_ttl_max = \"2s\"\ntags_refresh_share = 1.0\n{URGENT_RULE}"
        ),
    ));
    let mut rig = rig(&cfg).await;
    rig.reconciler.cycle(&cfg, Utc::now()).await.unwrap();
    // Unchanged reads grow the interval to tags_ttl_max.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        rig.reconciler.cycle(&cfg, Utc::now()).await.unwrap();
    }
    let edited = tokio::time::Instant::now();
    emu.set_tags_direct(ACCOUNT, &ids[7], vec![tag("urgent", "true")]);
    // Cycles every 200 ms: the edit is seen within tags_ttl_max (2 s) plus one cycle.
    let mut seen = None;
    for _ in 0..20 {
        rig.reconciler.cycle(&cfg, Utc::now()).await.unwrap();
        if priority(&emu, &ids[7]) == 900 {
            seen = Some(edited.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen = seen.expect("the tag edit is picked up");
    println!("tag edit picked up after {seen:?}");
    assert!(seen <= Duration::from_millis(2600), "{seen:?}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_refresh_picks_up_a_tag_edit_at_once() {
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 20, 0, 100);
    // The default tags_ttl (10 minutes): without a forced refresh the edit would wait.
    let cfg = parse(&config_text(&emu.endpoint_url(), 200.0, URGENT_RULE));
    let mut rig = rig(&cfg).await;
    rig.reconciler.cycle(&cfg, Utc::now()).await.unwrap();
    emu.set_tags_direct(ACCOUNT, &ids[3], vec![tag("urgent", "true")]);
    emu.reset_stats();
    rig.reconciler.cycle(&cfg, Utc::now()).await.unwrap();
    assert_eq!(priority(&emu, &ids[3]), 100, "cached tags are used");
    assert_eq!(emu.stats().by_operation.get("GetJobTagging"), None);

    rig.reconciler.force_tag_refresh();
    emu.reset_stats();
    let r = rig.reconciler.cycle(&cfg, Utc::now()).await.unwrap();
    assert_eq!(priority(&emu, &ids[3]), 900, "{}", r.summary());
    let s = emu.stats();
    // Every job's tags read again (and the changed job's once more before its write).
    assert!(s.count("GetJobTagging", "ok") >= 20, "{:?}", s.by_operation);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_give_way_to_writes_but_keep_their_share() {
    // 200 urgent jobs at 100 req/s with the tag store: each change is a read, a PutJobTagging
    // and an UpdateJobPriority. With read_share 0.5, writes start right after the first urgent
    // job is read, and reads go on meanwhile.
    let emu = quiet_emulator().await;
    let ids = insert_jobs(&emu, 200, 200, 100);
    let cfg = parse(&config_text(&emu.endpoint_url(), 100.0, URGENT_RULE));
    let mut rig = rig(&cfg).await;
    emu.reset_stats();
    let reads_at_first_write = Arc::new(AtomicU64::new(u64::MAX));
    let probe = {
        let emu = &emu;
        let seen = reads_at_first_write.clone();
        async move {
            loop {
                let s = emu.stats();
                if s.count("UpdateJobPriority", "ok") > 0 {
                    seen.store(s.count("GetJobTagging", "ok"), Ordering::Relaxed);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    let (report, ()) = tokio::join!(rig.reconciler.cycle(&cfg, Utc::now()), probe);
    let report = report.unwrap();
    assert_eq!(report.written, 200, "{}", report.summary());
    for id in &ids {
        assert_eq!(priority(&emu, id), 900);
    }
    let first = reads_at_first_write.load(Ordering::Relaxed);
    println!("first write after {first} reads");
    assert!(first <= 10, "the first write waited for {first} reads");
    emu.shutdown().await;
}

/// With the tag store, a fresh process reads every job's memory once; changes the policy knows
/// without tags (here by description) do not wait behind the memory reads of other jobs, also
/// with the blast-radius guard on: once even every undecided job changing would stay within
/// `max_changes_per_cycle`, the held changes go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_known_without_tags_do_not_wait_for_unrelated_memory_reads() {
    for guard in ["", "max_changes_per_cycle = 1000\n"] {
        let emu = quiet_emulator().await;
        insert_described(&emu, 30, "raise", 100);
        insert_described(&emu, 270, "steady", 100);
        let cfg = parse(&config_text(
            &emu.endpoint_url(),
            100.0,
            &format!(
                "[reconcile]\n{guard}[[rules]]\nname = \"raise\"\nwhen = {{ description_glob = \"raise-*\" }}\naction = {{ set = 500 }}\n"
            ),
        ));
        let mut rig = rig(&cfg).await;
        emu.start_request_log();
        let r = rig.reconciler.cycle(&cfg, Utc::now()).await.unwrap();
        assert_eq!(r.written, 30, "{}", r.summary());
        let log = emu.request_log();
        let last_write = log
            .iter()
            .rposition(|q| q.operation == "UpdateJobPriority")
            .expect("writes");
        let reads_before = log[..last_write]
            .iter()
            .filter(|q| q.operation == "GetJobTagging")
            .count();
        // The 30 selected jobs' reads (memory and opt-out tag in one), and at most a few
        // others sent while every decided change was in flight.
        assert!(
            reads_before <= 40,
            "{guard:?}: {reads_before} of 300 reads before the last change"
        );
        emu.shutdown().await;
    }
}

/// Changes whose tags were read in an earlier cycle are checked again before their write (the
/// tag store must not overwrite a person's edit); each checked change goes next, so the first
/// one lands within a few requests of the window opening, not after every check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checked_change_is_written_before_the_next_check() {
    use chrono::TimeZone;
    for guard in ["", "max_changes_per_cycle = 1000"] {
        let emu = quiet_emulator().await;
        insert_described(&emu, 30, "raise", 100);
        let cfg = parse(&config_text(
            &emu.endpoint_url(),
            200.0,
            &format!(
                r#"
[reconcile]
{guard}

[windows.business-hours]
timezone = "America/New_York"
days = ["Mon-Fri"]
ranges = ["09:00-17:00"]

[[rules]]
name = "raise"
when = {{ description_glob = "raise-*", in_window = "business-hours" }}
action = {{ set = 500 }}
"#
            ),
        ));
        let before = Utc.with_ymd_and_hms(2026, 12, 1, 13, 0, 0).unwrap();
        let inside = Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap();
        let mut rig = rig(&cfg).await;
        // Outside the window: every job's memory is read, nothing changes.
        let first = rig.reconciler.cycle(&cfg, before).await.unwrap();
        assert_eq!(first.written, 0, "{}", first.summary());
        emu.start_request_log();
        let r = rig.reconciler.cycle(&cfg, inside).await.unwrap();
        assert_eq!(r.written, 30, "{}", r.summary());
        let ops: Vec<&str> = emu.request_log().iter().map(|q| q.operation).collect();
        let first_write = ops.iter().position(|&o| o == "UpdateJobPriority");
        // ListJobs, the check (GetJobTagging), the memory (PutJobTagging), the priority; a check
        // or two of other changes may overlap while those are in flight.
        assert!(
            first_write.is_some_and(|p| p <= 6),
            "{guard:?}: first UpdateJobPriority at request {first_write:?}: {ops:?}"
        );
        emu.shutdown().await;
    }
}
