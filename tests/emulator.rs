//! The emulator driven by the real `aws-sdk-s3control` client (no mocked SDK), plus raw HTTP for
//! requests the SDK would never send.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_s3control::config::endpoint::{Endpoint, EndpointFuture, Params, ResolveEndpoint};
use aws_sdk_s3control::config::retry::RetryConfig;
use aws_sdk_s3control::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3control::operation::create_job::CreateJobError;
use aws_sdk_s3control::types::{
    JobManifest, JobManifestFieldName, JobManifestFormat, JobManifestLocation, JobManifestSpec,
    JobOperation, JobReport, JobStatus as SdkStatus, RequestedJobStatus,
    S3SetObjectTaggingOperation, S3Tag,
};
use aws_sdk_s3control::Client;
use s3prio::emulator::{
    self, EmulatorHandle, EmulatorOptions, JobSpec, JobStatus, Tag, Throttle,
    DEFAULT_ACCOUNT_ID as ACCOUNT,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

const OTHER_ACCOUNT: &str = "210987654321";

#[derive(Debug)]
struct FixedEndpoint(String);
impl ResolveEndpoint for FixedEndpoint {
    fn resolve_endpoint<'a>(&'a self, _: &'a Params) -> EndpointFuture<'a> {
        EndpointFuture::ready(Ok(Endpoint::builder().url(self.0.clone()).build()))
    }
}

/// Sends the request built by `$call`; it must fail with the typed service error `$is`.
macro_rules! fails_with {
    ($call:expr, $is:ident) => {{
        let e = $call.send().await.expect_err(stringify!($is));
        let e = e.into_service_error();
        assert!(e.$is(), "{}: {e:?}", stringify!($is));
    }};
}

fn client(emu: &EmulatorHandle) -> Client {
    let conf = aws_sdk_s3control::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_resolver(FixedEndpoint(emu.endpoint_url()))
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

async fn quiet_emulator() -> EmulatorHandle {
    emulator::start(EmulatorOptions {
        simulate: false,
        ..EmulatorOptions::default()
    })
    .await
    .expect("emulator starts")
}

fn tag(k: &str, v: &str) -> S3Tag {
    S3Tag::builder().key(k).value(v).build().expect("tag")
}

async fn create_job(
    c: &Client,
    token: &str,
    priority: i32,
    tags: Vec<S3Tag>,
) -> Result<String, CreateJobError> {
    let manifest = JobManifest::builder()
        .spec(
            JobManifestSpec::builder()
                .format(JobManifestFormat::S3BatchOperationsCsv20180820)
                .fields(JobManifestFieldName::Bucket)
                .fields(JobManifestFieldName::Key)
                .build()
                .expect("spec"),
        )
        .location(
            JobManifestLocation::builder()
                .object_arn("arn:aws:s3:::manifests/list.csv")
                .e_tag("\"abc123\"")
                .build()
                .expect("location"),
        )
        .build();
    c.create_job()
        .account_id(ACCOUNT)
        .client_request_token(token)
        .confirmation_required(false)
        .description("Tag <raw> events & more")
        .manifest(manifest)
        .operation(
            JobOperation::builder()
                .s3_put_object_tagging(
                    S3SetObjectTaggingOperation::builder()
                        .tag_set(tag("x", "y"))
                        .build(),
                )
                .build(),
        )
        .priority(priority)
        .report(JobReport::builder().enabled(false).build())
        .role_arn("arn:aws:iam::123456789012:role/batch")
        .set_tags(Some(tags))
        .send()
        .await
        .map(|o| o.job_id().unwrap_or_default().to_string())
        .map_err(|e| e.into_service_error())
}

#[tokio::test]
async fn create_describe_and_replace_tags() {
    let emu = quiet_emulator().await;
    let c = client(&emu);
    let id = create_job(
        &c,
        "tok-1",
        42,
        vec![tag("team", "ml"), tag("urgent", "true")],
    )
    .await
    .unwrap();
    assert!(emulator::is_valid_job_id(&id) && id.len() == 36, "{id}");

    // Same token, same request: the same job. Same token, a valid request that differs only in
    // its priority: IdempotencyException (and no second job).
    assert_eq!(
        create_job(
            &c,
            "tok-1",
            42,
            vec![tag("team", "ml"), tag("urgent", "true")]
        )
        .await
        .unwrap(),
        id
    );
    let err = create_job(
        &c,
        "tok-1",
        43,
        vec![tag("team", "ml"), tag("urgent", "true")],
    )
    .await
    .expect_err("a reused token with another request is refused");
    assert!(err.is_idempotency_exception(), "{err:?}");
    assert_eq!(emu.job_count(), 1);

    let job = c
        .describe_job()
        .account_id(ACCOUNT)
        .job_id(&id)
        .send()
        .await
        .unwrap();
    let job = job.job().expect("Job element");
    assert_eq!(job.job_id(), Some(id.as_str()));
    assert_eq!(job.priority(), 42);
    assert_eq!(job.status(), Some(&SdkStatus::New));
    assert_eq!(job.description(), Some("Tag <raw> events & more"));
    assert_eq!(job.confirmation_required(), Some(false));
    assert_eq!(
        job.job_arn(),
        Some(format!("arn:aws:s3:us-east-1:{ACCOUNT}:job/{id}").as_str())
    );
    let location = job
        .manifest()
        .and_then(|m| m.location())
        .expect("manifest echoed");
    assert_eq!(location.e_tag(), "\"abc123\"");
    assert!(job
        .operation()
        .and_then(|o| o.s3_put_object_tagging())
        .is_some());
    assert!(job.creation_time().is_some());

    let tags = c
        .get_job_tagging()
        .account_id(ACCOUNT)
        .job_id(&id)
        .send()
        .await
        .unwrap();
    let pairs: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(pairs, [("team", "ml"), ("urgent", "true")]);

    c.put_job_tagging()
        .account_id(ACCOUNT)
        .job_id(&id)
        .tags(tag("team", "billing"))
        .tags(tag("cost-center", "cc-4711"))
        .tags(tag("empty", ""))
        .send()
        .await
        .unwrap();
    let tags = c
        .get_job_tagging()
        .account_id(ACCOUNT)
        .job_id(&id)
        .send()
        .await
        .unwrap();
    let pairs: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(
        pairs,
        [
            ("team", "billing"),
            ("cost-center", "cc-4711"),
            ("empty", "")
        ]
    );
    assert_eq!(emu.job(ACCOUNT, &id).unwrap().tag("team"), Some("billing"));

    // Too many tags: TooManyTagsException.
    let mut req = c.put_job_tagging().account_id(ACCOUNT).job_id(&id);
    for i in 0..51 {
        req = req.tags(tag(&format!("k{i}"), "v"));
    }
    fails_with!(req, is_too_many_tags_exception);
    emu.shutdown().await;
}

fn spec(status: JobStatus, priority: i32, minutes_ago: i64) -> JobSpec {
    JobSpec {
        status,
        priority,
        creation_time: Some(chrono::Utc::now() - chrono::Duration::minutes(minutes_ago)),
        tags: vec![Tag::new("team", "analytics")],
        ..JobSpec::default()
    }
}

#[tokio::test]
async fn lists_2500_jobs_in_three_pages_without_gaps_or_repeats() {
    let emu = quiet_emulator().await;
    let mut expected = HashSet::new();
    for i in 0..2500 {
        expected.insert(emu.insert_job(spec(JobStatus::Ready, 10, i % 700)));
    }
    // Another account's jobs are not visible.
    emu.insert_job(JobSpec {
        account_id: OTHER_ACCOUNT.into(),
        ..JobSpec::default()
    });
    let c = client(&emu);
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = c
            .list_jobs()
            .account_id(ACCOUNT)
            .max_results(1000)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        pages.push(out.jobs().len());
        for j in out.jobs() {
            seen.push(j.job_id().unwrap().to_string());
            assert_eq!(j.priority(), 10);
            assert!(j.creation_time().is_some() && j.progress_summary().is_some());
        }
        match out.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, [1000, 1000, 500]);
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a job was listed twice");
    assert_eq!(unique, expected, "a job is missing");

    // maxResults outside the model's 0..1000 is refused; 0 means the default page of 1000; an
    // invalid token is InvalidNextTokenException.
    for n in [1001, 5000] {
        fails_with!(
            c.list_jobs().account_id(ACCOUNT).max_results(n),
            is_invalid_request_exception
        );
    }
    let out = c
        .list_jobs()
        .account_id(ACCOUNT)
        .max_results(0)
        .send()
        .await
        .unwrap();
    assert_eq!(out.jobs().len(), 1000);
    fails_with!(
        c.list_jobs().account_id(ACCOUNT).next_token("garbage"),
        is_invalid_next_token_exception
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn filters_by_status_and_hides_jobs_ended_long_ago() {
    let emu = quiet_emulator().await;
    let mut by_status = std::collections::HashMap::<&str, usize>::new();
    let statuses = [
        JobStatus::Active,
        JobStatus::Suspended,
        JobStatus::Ready,
        JobStatus::Complete,
    ];
    for i in 0..200usize {
        let st = statuses[i % statuses.len()];
        emu.insert_job(spec(st, 10, i as i64));
        *by_status.entry(st.as_str()).or_default() += 1;
    }
    let mut old = spec(JobStatus::Failed, 10, 200 * 24 * 60);
    old.termination_date = Some(chrono::Utc::now() - chrono::Duration::days(100));
    let old_id = emu.insert_job(old);
    let c = client(&emu);
    let out = c
        .list_jobs()
        .account_id(ACCOUNT)
        .job_statuses(SdkStatus::Active)
        .job_statuses(SdkStatus::Suspended)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.jobs().len(),
        by_status["Active"] + by_status["Suspended"]
    );
    assert!(out
        .jobs()
        .iter()
        .all(|j| matches!(j.status(), Some(SdkStatus::Active | SdkStatus::Suspended))));
    let all = c.list_jobs().account_id(ACCOUNT).send().await.unwrap();
    assert_eq!(all.jobs().len(), 200);
    assert!(all
        .jobs()
        .iter()
        .all(|j| j.job_id() != Some(old_id.as_str())));
    let failed = c
        .list_jobs()
        .account_id(ACCOUNT)
        .job_statuses(SdkStatus::Failed)
        .send()
        .await
        .unwrap();
    assert!(failed.jobs().is_empty());
    // Still describable.
    c.describe_job()
        .account_id(ACCOUNT)
        .job_id(&old_id)
        .send()
        .await
        .unwrap();
    emu.shutdown().await;
}

#[tokio::test]
async fn updates_priority_and_status_and_reads_them_back() {
    let emu = quiet_emulator().await;
    let id = emu.insert_job(spec(JobStatus::Suspended, 10, 1));
    let c = client(&emu);
    let out = c
        .update_job_priority()
        .account_id(ACCOUNT)
        .job_id(&id)
        .priority(2_147_483_647)
        .send()
        .await
        .unwrap();
    assert_eq!((out.job_id(), out.priority()), (id.as_str(), i32::MAX));
    let job = c
        .describe_job()
        .account_id(ACCOUNT)
        .job_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(job.job().unwrap().priority(), i32::MAX);
    let listed = c.list_jobs().account_id(ACCOUNT).send().await.unwrap();
    assert_eq!(listed.jobs()[0].priority(), i32::MAX);
    let updates = emu.priority_updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(
        (updates[0].job_id.as_str(), updates[0].priority),
        (id.as_str(), i32::MAX)
    );

    // A person changes it in the console: the API sees it, the update log does not.
    assert!(emu.set_priority_direct(ACCOUNT, &id, 77));
    let job = c
        .describe_job()
        .account_id(ACCOUNT)
        .job_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(job.job().unwrap().priority(), 77);
    assert_eq!(emu.priority_updates().len(), 1);

    let out = c
        .update_job_status()
        .account_id(ACCOUNT)
        .job_id(&id)
        .requested_job_status(RequestedJobStatus::Ready)
        .status_update_reason("confirmed by test")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), Some(&SdkStatus::Ready));
    assert_eq!(out.status_update_reason(), Some("confirmed by test"));
    // Ready again is not a valid transition.
    fails_with!(
        c.update_job_status()
            .account_id(ACCOUNT)
            .job_id(&id)
            .requested_job_status(RequestedJobStatus::Ready),
        is_job_status_exception
    );
    let out = c
        .update_job_status()
        .account_id(ACCOUNT)
        .job_id(&id)
        .requested_job_status(RequestedJobStatus::Cancelled)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), Some(&SdkStatus::Cancelled));
    emu.shutdown().await;
}

#[tokio::test]
async fn typed_errors_on_the_right_calls() {
    let emu = quiet_emulator().await;
    let id = emu.insert_job(spec(JobStatus::Ready, 10, 1));
    let c = client(&emu);
    let missing = "00000000-0000-4000-8000-000000000000";

    fails_with!(
        c.describe_job().account_id(ACCOUNT).job_id(missing),
        is_not_found_exception
    );
    fails_with!(
        c.get_job_tagging().account_id(ACCOUNT).job_id(missing),
        is_not_found_exception
    );
    fails_with!(
        c.update_job_priority()
            .account_id(ACCOUNT)
            .job_id(missing)
            .priority(5),
        is_not_found_exception
    );
    fails_with!(
        c.put_job_tagging()
            .account_id(ACCOUNT)
            .job_id(missing)
            .set_tags(Some(Vec::new())),
        is_not_found_exception
    );
    // Jobs of another account are not visible.
    fails_with!(
        c.describe_job().account_id(OTHER_ACCOUNT).job_id(&id),
        is_not_found_exception
    );

    fails_with!(
        c.update_job_priority()
            .account_id(ACCOUNT)
            .job_id(&id)
            .priority(-1),
        is_bad_request_exception
    );
    fails_with!(
        c.describe_job().account_id(ACCOUNT).job_id("bad!id"),
        is_bad_request_exception
    );
    fails_with!(
        c.describe_job().account_id(ACCOUNT).job_id("abc"),
        is_bad_request_exception
    );
    fails_with!(
        c.describe_job().account_id("12345").job_id(&id),
        is_bad_request_exception
    );
    assert_eq!(emu.job(ACCOUNT, &id).unwrap().priority, 10);

    emu.set_throttle(Some(Throttle {
        rps: 0.001,
        burst: 1,
    }));
    c.describe_job()
        .account_id(ACCOUNT)
        .job_id(&id)
        .send()
        .await
        .unwrap();
    fails_with!(
        c.describe_job().account_id(ACCOUNT).job_id(&id),
        is_too_many_requests_exception
    );
    fails_with!(
        c.update_job_priority()
            .account_id(ACCOUNT)
            .job_id(&id)
            .priority(5),
        is_too_many_requests_exception
    );
    // ListJobs models no TooManyRequestsException, but the code still reaches the client.
    let e = c.list_jobs().account_id(ACCOUNT).send().await.unwrap_err();
    let code = aws_sdk_s3control::error::ProvideErrorMetadata::code(&e.into_service_error())
        .map(str::to_string);
    assert_eq!(code.as_deref(), Some("TooManyRequestsException"));
    // Buckets are per account.
    c.describe_job()
        .account_id(OTHER_ACCOUNT)
        .job_id(missing)
        .send()
        .await
        .unwrap_err();

    emu.set_throttle(None);
    emu.set_fault_rate(1.0);
    fails_with!(
        c.describe_job().account_id(ACCOUNT).job_id(&id),
        is_internal_service_exception
    );
    emu.set_fault_rate(0.0);

    emu.remove_job(ACCOUNT, &id);
    fails_with!(
        c.describe_job().account_id(ACCOUNT).job_id(&id),
        is_not_found_exception
    );
    let stats = emu.stats();
    // missing id, another account's job, a missing id in another account, the removed job.
    assert_eq!(
        stats.count("DescribeJob", "NotFoundException"),
        4,
        "{stats:?}"
    );
    assert!(stats.throttled >= 3);
    assert_eq!(stats.faults, 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn throttle_refuses_a_burst_and_spares_a_paced_client() {
    let emu = emulator::start(EmulatorOptions {
        simulate: false,
        throttle: Some(Throttle { rps: 5.0, burst: 5 }),
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let id = emu.insert_job(spec(JobStatus::Ready, 10, 1));
    let c = client(&emu);
    let calls = (0..50).map(|_| {
        let c = c.clone();
        let id = id.clone();
        async move { c.describe_job().account_id(ACCOUNT).job_id(id).send().await }
    });
    let results = futures_util::future::join_all(calls).await;
    let throttled = results
        .iter()
        .filter(|r| {
            r.as_ref().is_err_and(|e| {
                e.as_service_error()
                    .is_some_and(|s| s.is_too_many_requests_exception())
            })
        })
        .count();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    println!("burst of 50 at 5 rps / burst 5: {ok} ok, {throttled} TooManyRequestsException");
    assert_eq!(ok + throttled, 50);
    assert!(throttled >= 40, "only {throttled} of 50 throttled");
    assert_eq!(emu.stats().throttled, throttled as u64);

    // Let the bucket refill, then pace at 5/s: no throttling (one slip tolerated for jitter).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    emu.reset_stats();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let started = Instant::now();
    let mut paced_throttled = 0;
    for _ in 0..20 {
        tick.tick().await;
        if let Err(e) = c
            .describe_job()
            .account_id(ACCOUNT)
            .job_id(&id)
            .send()
            .await
        {
            assert!(e.into_service_error().is_too_many_requests_exception());
            paced_throttled += 1;
        }
    }
    println!(
        "paced client, 20 calls at 5/s over {:?}: {paced_throttled} throttled",
        started.elapsed()
    );
    assert!(
        paced_throttled <= 1,
        "{paced_throttled} paced calls throttled"
    );
    emu.shutdown().await;
}

/// One raw HTTP/1.1 exchange on a fresh connection; returns (status, head, body).
async fn raw(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{head}\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (mut rd, mut wr) = s.split();
    let write = async {
        let _ = wr.write_all(req.as_bytes()).await;
        let _ = wr.write_all(body).await;
    };
    let mut buf = Vec::new();
    let read = rd.read_to_end(&mut buf);
    let (_, r) = tokio::join!(write, read);
    r.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (h, b) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = h
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, h.to_string(), b.to_string())
}

/// A raw CreateJob body with the given manifest format, role and operation element.
fn create_body(format: &str, role: &str, operation: &str) -> String {
    format!(
        "<CreateJobRequest xmlns=\"http://awss3control.amazonaws.com/doc/2018-08-20/\">\
         <ClientRequestToken>raw-{format}-{}</ClientRequestToken>\
         <Manifest><Spec><Format>{format}</Format></Spec>\
         <Location><ObjectArn>arn:aws:s3:::m/list.csv</ObjectArn><ETag>e</ETag></Location></Manifest>\
         <Operation>{operation}</Operation><Priority>1</Priority>\
         <Report><Enabled>false</Enabled></Report><RoleArn>{role}</RoleArn></CreateJobRequest>",
        operation.len()
    )
}

#[tokio::test]
async fn garbage_requests_get_error_responses_and_the_server_keeps_serving() {
    let emu = quiet_emulator().await;
    let id = emu.insert_job(spec(JobStatus::Ready, 10, 1));
    let addr = emu.addr();
    let acct = format!("x-amz-account-id: {ACCOUNT}");
    let huge = vec![b'a'; 2 * 1024 * 1024];
    let cases: Vec<(String, Vec<u8>, u16, &str)> = vec![
        (format!("POST /v20180820/jobs HTTP/1.1\r\n{acct}"), b"<CreateJobRequest><Oops>".to_vec(), 400, "BadRequestException"),
        (format!("POST /v20180820/jobs HTTP/1.1\r\n{acct}"), b"not xml at all".to_vec(), 400, "BadRequestException"),
        (format!("POST /v20180820/jobs HTTP/1.1\r\n{acct}"), b"<Wrong/>".to_vec(), 400, "BadRequestException"),
        (format!("POST /v20180820/jobs HTTP/1.1\r\n{acct}"), b"<CreateJobRequest><ClientRequestToken>t</ClientRequestToken></CreateJobRequest>".to_vec(), 400, "BadRequestException"),
        (format!("POST /v20180820/jobs HTTP/1.1\r\n{acct}"), "<a>".repeat(5000).into_bytes(), 400, "BadRequestException"),
        (format!("POST /v20180820/jobs HTTP/1.1\r\n{acct}"), huge.clone(), 413, "EntityTooLarge"),
        (format!("PUT /v20180820/jobs/{id}/tagging HTTP/1.1\r\n{acct}"), b"<PutJobTaggingRequest><Tags><member><Key>a</Key>".to_vec(), 400, "BadRequestException"),
        (format!("PUT /v20180820/jobs/{id}/tagging HTTP/1.1\r\n{acct}"), b"<PutJobTaggingRequest><Tags><member><Key>a;b</Key><Value>v</Value></member></Tags></PutJobTaggingRequest>".to_vec(), 400, "BadRequestException"),
        (format!("GET /v20180820/jobs?maxResults=abc HTTP/1.1\r\n{acct}"), vec![], 400, "InvalidRequestException"),
        (format!("GET /v20180820/jobs?maxResults=-5 HTTP/1.1\r\n{acct}"), vec![], 400, "InvalidRequestException"),
        (format!("GET /v20180820/jobs?jobStatuses=Bogus HTTP/1.1\r\n{acct}"), vec![], 400, "InvalidRequestException"),
        (format!("GET /v20180820/jobs?nextToken=%00%ff HTTP/1.1\r\n{acct}"), vec![], 400, "InvalidNextTokenException"),
        (format!("POST /v20180820/jobs/{id}/priority?priority=abc HTTP/1.1\r\n{acct}"), vec![], 400, "BadRequestException"),
        (format!("POST /v20180820/jobs/{id}/priority?priority=2147483648 HTTP/1.1\r\n{acct}"), vec![], 400, "BadRequestException"),
        (format!("POST /v20180820/jobs/{id}/priority HTTP/1.1\r\n{acct}"), vec![], 400, "BadRequestException"),
        (format!("POST /v20180820/jobs/{id}/status?requestedJobStatus=Active HTTP/1.1\r\n{acct}"), vec![], 400, "BadRequestException"),
        (format!("GET /v20180820/jobs/%ff%fe HTTP/1.1\r\n{acct}"), vec![], 400, "BadRequestException"),
        (format!("GET /v20180820/jobs/{id}"), vec![], 400, "BadRequestException"),
        (format!("GET /v20180820/jobs/{id} HTTP/1.1\r\nx-amz-account-id: 12345678901x"), vec![], 400, "BadRequestException"),
        ("GET /v20180820/jobs HTTP/1.1".to_string(), vec![], 400, "InvalidRequestException"),
        (format!("GET /nope HTTP/1.1\r\n{acct}"), vec![], 404, "UnknownOperationException"),
        (format!("GET /v20180820/jobs/{id}/bogus/x HTTP/1.1\r\n{acct}"), vec![], 404, "UnknownOperationException"),
        (format!("DELETE /v20180820/jobs/{id} HTTP/1.1\r\n{acct}"), vec![], 405, "MethodNotAllowed"),
        (format!("GET /v20180820/jobs?maxResults=1001 HTTP/1.1\r\n{acct}"), vec![], 400, "InvalidRequestException"),
        (format!("POST /v20180820/jobs HTTP/1.1\r\n{acct}"), create_body("S3BatchOperations_CSV_20180820", "arn:aws:iam::123456789012:user/bob", "<S3PutObjectTagging/>").into_bytes(), 400, "BadRequestException"),
        (format!("POST /v20180820/jobs HTTP/1.1\r\n{acct}"), create_body("CSV", "arn:aws:iam::123456789012:role/batch", "<S3PutObjectTagging/>").into_bytes(), 400, "BadRequestException"),
        (format!("POST /v20180820/jobs HTTP/1.1\r\n{acct}"), create_body("S3BatchOperations_CSV_20180820", "arn:aws:iam::123456789012:role/batch", "<S3PutObjectLegalHold/>").into_bytes(), 400, "BadRequestException"),
        (format!("POST /v20180820/jobs HTTP/1.1\r\n{acct}"), create_body("S3BatchOperations_CSV_20180820", "arn:aws:iam::123456789012:role/batch", "<S3PutObjectLegalHold><LegalHold><Status>MAYBE</Status></LegalHold></S3PutObjectLegalHold>").into_bytes(), 400, "BadRequestException"),
        (format!("POST /v20180820/jobs HTTP/1.1\r\n{acct}"), create_body("S3BatchOperations_CSV_20180820", "arn:aws:iam::123456789012:role/batch", "<S3PutObjectRetention/>").into_bytes(), 400, "BadRequestException"),
    ];
    for (head, body, status, code) in &cases {
        let head = if head.contains("HTTP/1.1") {
            head.clone()
        } else {
            head.replacen(&id, &format!("{id} HTTP/1.1"), 1)
        };
        let (got, h, b) = raw(addr, &head, body).await;
        assert_eq!(got, *status, "{head}: {h}\n{b}");
        assert!(
            b.contains(&format!("<ErrorResponse><Error><Code>{code}</Code>")),
            "{head}: {b}"
        );
        assert!(
            h.to_ascii_lowercase().contains("x-amz-request-id:"),
            "{head}: {h}"
        );
    }
    // Not HTTP at all: hyper answers or closes; either way the server lives on.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(b"\x00\x01\x02 garbage\r\n\r\n").await;
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut sink)).await;

    let c = client(&emu);
    let job = c
        .describe_job()
        .account_id(ACCOUNT)
        .job_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(job.job().unwrap().priority(), 10);
    assert_eq!(emu.job_count(), 1);
    let stats = emu.stats();
    assert!(stats.total >= cases.len() as u64);
    emu.shutdown().await;
}

#[tokio::test]
async fn stats_and_control_over_http() {
    let emu = quiet_emulator().await;
    let c = client(&emu);
    c.list_jobs().account_id(ACCOUNT).send().await.unwrap();
    let (status, _, body) = raw(emu.addr(), "GET /_emulator/stats HTTP/1.1", b"").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["by_operation"]["ListJobs"]["ok"], 1);
    assert_eq!(v["total"], 1);

    let control = br#"{"throttle":{"rps":0.001,"burst":1},"latency_ms":0}"#;
    let (status, _, body) = raw(emu.addr(), "POST /_emulator/control HTTP/1.1", control).await;
    assert_eq!(status, 200, "{body}");
    c.list_jobs().account_id(ACCOUNT).send().await.unwrap();
    assert!(c.list_jobs().account_id(ACCOUNT).send().await.is_err());
    let (status, _, _) = raw(
        emu.addr(),
        "POST /_emulator/control HTTP/1.1",
        br#"{"throttle":null}"#,
    )
    .await;
    assert_eq!(status, 200);
    c.list_jobs().account_id(ACCOUNT).send().await.unwrap();
    let (status, _, _) = raw(
        emu.addr(),
        "POST /_emulator/control HTTP/1.1",
        br#"{"fault_rate":7}"#,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = raw(emu.addr(), "POST /_emulator/control HTTP/1.1", b"{nope").await;
    assert_eq!(status, 400);

    let (status, _, _) = raw(emu.addr(), "POST /_emulator/stats/reset HTTP/1.1", b"").await;
    assert_eq!(status, 200);
    assert_eq!(emu.stats().total, 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn outage_and_dropped_connections_fail_calls_then_recover() {
    let emu = quiet_emulator().await;
    let c = client(&emu);
    c.list_jobs().account_id(ACCOUNT).send().await.unwrap();
    emu.set_down(true);
    let e = c.list_jobs().account_id(ACCOUNT).send().await.unwrap_err();
    assert!(
        e.as_service_error().is_none(),
        "an outage is not a service answer: {e:?}"
    );
    emu.set_down(false);
    c.list_jobs().account_id(ACCOUNT).send().await.unwrap();

    emu.set_drop_rate(1.0);
    let e = c.list_jobs().account_id(ACCOUNT).send().await.unwrap_err();
    assert!(
        e.as_service_error().is_none(),
        "a dropped connection is not a service answer: {e:?}"
    );
    emu.set_drop_rate(0.0);
    c.list_jobs().account_id(ACCOUNT).send().await.unwrap();
    assert!(emu.stats().dropped >= 2);

    emu.set_latency(Duration::from_millis(150));
    let t = Instant::now();
    c.list_jobs().account_id(ACCOUNT).send().await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(150));
    emu.shutdown().await;
}

#[tokio::test]
async fn state_file_keeps_jobs_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("emulator-state.json");
    let opts = EmulatorOptions {
        simulate: false,
        jobs: 300,
        seed: 9,
        state_file: Some(path.clone()),
        ..EmulatorOptions::default()
    };
    let emu = emulator::start(opts.clone()).await.unwrap();
    let c = client(&emu);
    let id = create_job(&c, "restart-token", 321, vec![tag("team", "media")])
        .await
        .unwrap();
    let generated = emu.job_ids(ACCOUNT).into_iter().find(|j| *j != id).unwrap();
    c.update_job_priority()
        .account_id(ACCOUNT)
        .job_id(&generated)
        .priority(999)
        .send()
        .await
        .unwrap();
    emu.shutdown().await;
    assert!(path.exists());

    // Same options, different seed: the file wins over generation.
    let emu = emulator::start(EmulatorOptions { seed: 10, ..opts })
        .await
        .unwrap();
    assert_eq!(emu.job_count(), 301);
    let c = client(&emu);
    let job = c
        .describe_job()
        .account_id(ACCOUNT)
        .job_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(job.job().unwrap().priority(), 321);
    assert_eq!(emu.job(ACCOUNT, &generated).unwrap().priority, 999);
    let tags = c
        .get_job_tagging()
        .account_id(ACCOUNT)
        .job_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags()[0].value(), "media");
    // The idempotency token survived too.
    assert_eq!(
        create_job(&c, "restart-token", 321, vec![tag("team", "media")])
            .await
            .unwrap(),
        id
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn generated_population_describes_for_every_operation_and_lives() {
    let emu = emulator::start(EmulatorOptions {
        jobs: 400,
        seed: 3,
        time_scale: 50.0,
        simulate: false,
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let c = client(&emu);
    let ids = emu.job_ids(ACCOUNT);
    let mut ops = HashSet::new();
    for id in &ids {
        let job = emu.job(ACCOUNT, id).unwrap();
        if ops.insert(job.operation) {
            let d = c.describe_job().account_id(ACCOUNT).job_id(id).send().await;
            assert!(d.is_ok(), "{:?}: {d:?}", job.operation);
        }
    }
    assert!(ops.len() >= 8, "{ops:?}");
    // The lowest-priority waiting job, raised above all, becomes Active after a tick.
    let waiting = ids
        .iter()
        .filter_map(|id| emu.job(ACCOUNT, id))
        .filter(|j| j.status == JobStatus::Ready)
        .min_by_key(|j| j.priority)
        .unwrap();
    c.update_job_priority()
        .account_id(ACCOUNT)
        .job_id(&waiting.id)
        .priority(100_000)
        .send()
        .await
        .unwrap();
    emu.advance_simulation(1.0, 4);
    assert_eq!(
        emu.job(ACCOUNT, &waiting.id).unwrap().status,
        JobStatus::Active
    );
    emu.advance_simulation(10.0, 4);
    assert!(emu.job(ACCOUNT, &waiting.id).unwrap().progress.succeeded > 0);
    emu.shutdown().await;
}

/// Behaviour at scale: every visible job of 100,000 listed once, newest first, over 1,000-job
/// pages; ended jobs older than 90 days hidden. The time per page is a figure of the
/// `emulator` bench (`cargo bench --bench emulator`), not of this test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_from_100k_jobs_cover_every_visible_job_once() {
    let emu = emulator::start(EmulatorOptions {
        jobs: 100_000,
        simulate: false,
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    assert_eq!(emu.job_count(), 100_000);
    let cutoff = chrono::Utc::now() - chrono::Duration::days(90);
    let all = emu.job_ids(ACCOUNT);
    let visible: Vec<String> = all
        .iter()
        .filter(|id| {
            let j = emu.job(ACCOUNT, id).expect("listed id exists");
            !(j.status.is_terminal() && j.termination_date.is_some_and(|t| t < cutoff))
        })
        .cloned()
        .collect();
    let hidden = all.len() - visible.len();
    assert!(
        hidden > 0 && visible.len() > 90_000,
        "the population has some long-ended jobs to hide: {hidden} hidden"
    );

    // In process: page sizes and the page count.
    let (mut direct_pages, mut direct_listed, mut token) = (0, 0, None);
    loop {
        let (n, next) = emu.list_page_direct(ACCOUNT, 1000, token.as_deref());
        direct_pages += 1;
        direct_listed += n;
        match next {
            Some(t) => {
                assert_eq!(n, 1000, "a page before the last is full");
                token = Some(t)
            }
            None => break,
        }
    }

    // Over HTTP with the real SDK client: the same pages, every visible job once, in order.
    let c = client(&emu);
    let (mut sdk_pages, mut token, mut listed) = (0, None::<String>, Vec::new());
    loop {
        let out = c
            .list_jobs()
            .account_id(ACCOUNT)
            .max_results(1000)
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        sdk_pages += 1;
        listed.extend(
            out.jobs()
                .iter()
                .map(|j| j.job_id().unwrap_or_default().to_string()),
        );
        match out.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    println!(
        "100k jobs: {} visible ({hidden} hidden), {sdk_pages} pages via the SDK",
        visible.len()
    );
    assert_eq!(direct_listed, visible.len());
    assert_eq!(direct_pages, visible.len().div_ceil(1000));
    assert_eq!(sdk_pages, direct_pages);
    assert_eq!(
        listed.len(),
        visible.len(),
        "no job missing or listed twice"
    );
    assert!(
        listed == visible,
        "listing order is newest first, without gaps or repeats"
    );
    emu.shutdown().await;
}
