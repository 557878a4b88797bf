//! Every operation and every error the emulator produces, driven through the real
//! `aws-sdk-s3control` client, with each response body checked against the shapes of the
//! S3 Control service model.
//!
//! Why both: the SDK's deserialisers ignore unknown elements and quietly fill in required
//! members that are missing (`<S3PutObjectLegalHold/>` parses as a legal hold with an empty
//! status), so "the SDK parsed it" is not enough. An interceptor keeps the raw body of every
//! response the SDK receives and [`check`] walks it against the shapes below: the member names
//! the SDK's deserialisers read, the members the model marks required, enum values, number,
//! boolean and timestamp syntax.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_sdk_s3control::config::endpoint::{Endpoint, EndpointFuture, Params, ResolveEndpoint};
use aws_sdk_s3control::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_s3control::config::retry::RetryConfig;
use aws_sdk_s3control::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_s3control::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_sdk_s3control::types::{
    JobManifest, JobManifestFieldName, JobManifestFormat, JobManifestGenerator,
    JobManifestLocation, JobManifestSpec, JobOperation, JobReport, JobReportFormat, JobReportScope,
    LambdaInvokeOperation, ObjectEncryption, RequestedJobStatus, S3ComputeObjectChecksumOperation,
    S3CopyObjectOperation, S3DeleteObjectTaggingOperation, S3InitiateRestoreObjectOperation,
    S3JobManifestGenerator, S3ManifestOutputLocation, S3ObjectLockLegalHold,
    S3ObjectLockLegalHoldStatus, S3ReplicateObjectOperation, S3Retention, S3SetObjectAclOperation,
    S3SetObjectLegalHoldOperation, S3SetObjectRetentionOperation, S3SetObjectTaggingOperation,
    S3Tag, S3UpdateObjectEncryptionOperation, S3UpdateObjectEncryptionSsekms,
};
use aws_sdk_s3control::Client;
use quick_xml::events::Event;
use s3prio::emulator::{
    self, EmulatorHandle, EmulatorOptions, JobSpec, JobStatus, OperationName,
    DEFAULT_ACCOUNT_ID as ACCOUNT,
};

// ---------------------------------------------------------------------------------------------
// The model, as far as the job API's responses go.

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    Time,
    Enum(&'static [&'static str]),
    /// A structure: (element, shape, required).
    Struct(&'static [(&'static str, Kind, bool)]),
    /// `<member>` elements of this shape.
    List(&'static Kind),
    /// A member the emulator never writes itself (only echoes what the SDK sent): its name is
    /// checked, its content is not.
    Opaque,
}

use Kind::*;

const JOB_STATUS: Kind = Enum(&[
    "Active",
    "Cancelled",
    "Cancelling",
    "Complete",
    "Completing",
    "Failed",
    "Failing",
    "New",
    "Paused",
    "Pausing",
    "Preparing",
    "Ready",
    "Suspended",
]);
const OPERATION_NAME: Kind = Enum(&[
    "LambdaInvoke",
    "S3PutObjectCopy",
    "S3PutObjectAcl",
    "S3PutObjectTagging",
    "S3DeleteObjectTagging",
    "S3InitiateRestoreObject",
    "S3PutObjectLegalHold",
    "S3PutObjectRetention",
    "S3ReplicateObject",
    "S3ComputeObjectChecksum",
    "S3UpdateObjectEncryption",
]);
const TIMERS: Kind = Struct(&[("ElapsedTimeInActiveSeconds", Int, false)]);
const PROGRESS: Kind = Struct(&[
    ("TotalNumberOfTasks", Int, false),
    ("NumberOfTasksSucceeded", Int, false),
    ("NumberOfTasksFailed", Int, false),
    ("Timers", TIMERS, false),
]);
const S3_TAG: Kind = Struct(&[("Key", Str, true), ("Value", Str, true)]);
const TAG_SET: Kind = List(&S3_TAG);
const JOB_LIST_DESCRIPTOR: Kind = Struct(&[
    ("JobId", Str, false),
    ("Description", Str, false),
    ("Operation", OPERATION_NAME, false),
    ("Priority", Int, false),
    ("Status", JOB_STATUS, false),
    ("CreationTime", Time, false),
    ("TerminationDate", Time, false),
    ("ProgressSummary", PROGRESS, false),
]);
const MANIFEST_LOCATION: Kind = Struct(&[
    ("ObjectArn", Str, true),
    ("ObjectVersionId", Str, false),
    ("ETag", Str, true),
]);
const MANIFEST: Kind = Struct(&[
    (
        "Spec",
        Struct(&[
            (
                "Format",
                Enum(&[
                    "S3BatchOperations_CSV_20180820",
                    "S3InventoryReport_CSV_20161130",
                ]),
                true,
            ),
            (
                "Fields",
                List(&Enum(&["Ignore", "Bucket", "Key", "VersionId"])),
                false,
            ),
        ]),
        true,
    ),
    ("Location", MANIFEST_LOCATION, true),
]);
const OPERATION: Kind = Struct(&[
    (
        "LambdaInvoke",
        Struct(&[
            ("FunctionArn", Str, false),
            ("InvocationSchemaVersion", Str, false),
            ("UserArguments", Opaque, false),
        ]),
        false,
    ),
    (
        "S3PutObjectCopy",
        Struct(&[
            ("TargetResource", Str, false),
            ("CannedAccessControlList", Opaque, false),
            ("AccessControlGrants", Opaque, false),
            ("MetadataDirective", Enum(&["COPY", "REPLACE"]), false),
            ("AnnotationDirective", Opaque, false),
            ("ModifiedSinceConstraint", Time, false),
            ("NewObjectMetadata", Opaque, false),
            ("NewObjectTagging", TAG_SET, false),
            ("RedirectLocation", Str, false),
            ("RequesterPays", Bool, false),
            ("StorageClass", Opaque, false),
            ("UnModifiedSinceConstraint", Time, false),
            ("SSEAwsKmsKeyId", Str, false),
            ("TargetKeyPrefix", Str, false),
            ("ObjectLockLegalHoldStatus", Enum(&["ON", "OFF"]), false),
            ("ObjectLockMode", Enum(&["COMPLIANCE", "GOVERNANCE"]), false),
            ("ObjectLockRetainUntilDate", Time, false),
            ("BucketKeyEnabled", Bool, false),
            ("ChecksumAlgorithm", Opaque, false),
            ("ObjectLockEventHold", Opaque, false),
            ("ObjectLockEventHoldDuration", Opaque, false),
        ]),
        false,
    ),
    (
        "S3PutObjectAcl",
        Struct(&[(
            "AccessControlPolicy",
            Struct(&[
                (
                    "AccessControlList",
                    Struct(&[("Owner", Opaque, true), ("Grants", Opaque, false)]),
                    false,
                ),
                (
                    "CannedAccessControlList",
                    Enum(&[
                        "private",
                        "public-read",
                        "public-read-write",
                        "aws-exec-read",
                        "authenticated-read",
                        "bucket-owner-read",
                        "bucket-owner-full-control",
                    ]),
                    false,
                ),
            ]),
            false,
        )]),
        false,
    ),
    (
        "S3PutObjectTagging",
        Struct(&[("TagSet", TAG_SET, false)]),
        false,
    ),
    ("S3DeleteObjectTagging", Struct(&[]), false),
    (
        "S3InitiateRestoreObject",
        Struct(&[
            ("ExpirationInDays", Int, false),
            ("GlacierJobTier", Enum(&["BULK", "STANDARD"]), false),
        ]),
        false,
    ),
    (
        "S3PutObjectLegalHold",
        Struct(&[(
            "LegalHold",
            Struct(&[("Status", Enum(&["ON", "OFF"]), true)]),
            true,
        )]),
        false,
    ),
    (
        "S3PutObjectRetention",
        Struct(&[
            ("BypassGovernanceRetention", Bool, false),
            (
                "Retention",
                Struct(&[
                    ("RetainUntilDate", Time, false),
                    ("Mode", Enum(&["COMPLIANCE", "GOVERNANCE"]), false),
                    ("EventHold", Opaque, false),
                    ("EventHoldDuration", Opaque, false),
                ]),
                true,
            ),
        ]),
        false,
    ),
    ("S3ReplicateObject", Struct(&[]), false),
    (
        "S3ComputeObjectChecksum",
        Struct(&[
            (
                "ChecksumAlgorithm",
                Enum(&[
                    "CRC32",
                    "CRC32C",
                    "CRC64NVME",
                    "MD5",
                    "SHA1",
                    "SHA256",
                    "SHA512",
                    "XXHASH128",
                    "XXHASH3",
                    "XXHASH64",
                ]),
                false,
            ),
            ("ChecksumType", Enum(&["COMPOSITE", "FULL_OBJECT"]), false),
        ]),
        false,
    ),
    (
        "S3UpdateObjectEncryption",
        Struct(&[(
            "ObjectEncryption",
            Struct(&[(
                "SSE-KMS",
                Struct(&[("KMSKeyArn", Str, true), ("BucketKeyEnabled", Bool, false)]),
                false,
            )]),
            false,
        )]),
        false,
    ),
]);
const REPORT: Kind = Struct(&[
    ("Bucket", Str, false),
    ("Format", Enum(&["Report_CSV_20180820"]), false),
    ("Enabled", Bool, true),
    ("Prefix", Str, false),
    ("ReportScope", Enum(&["AllTasks", "FailedTasksOnly"]), false),
    ("ExpectedBucketOwner", Str, false),
]);
const MANIFEST_GENERATOR: Kind = Struct(&[(
    "S3JobManifestGenerator",
    Struct(&[
        ("ExpectedBucketOwner", Str, false),
        ("SourceBucket", Str, true),
        (
            "ManifestOutputLocation",
            Struct(&[
                ("ExpectedManifestBucketOwner", Str, false),
                ("Bucket", Str, true),
                ("ManifestPrefix", Str, false),
                ("ManifestEncryption", Opaque, false),
                (
                    "ManifestFormat",
                    Enum(&["S3InventoryReport_CSV_20211130"]),
                    true,
                ),
            ]),
            false,
        ),
        ("Filter", Opaque, false),
        ("EnableManifestOutput", Bool, true),
    ]),
    false,
)]);
const JOB_DESCRIPTOR: Kind = Struct(&[
    ("JobId", Str, false),
    ("ConfirmationRequired", Bool, false),
    ("Description", Str, false),
    ("JobArn", Str, false),
    ("Status", JOB_STATUS, false),
    ("Manifest", MANIFEST, false),
    ("Operation", OPERATION, false),
    ("Priority", Int, false),
    ("ProgressSummary", PROGRESS, false),
    ("StatusUpdateReason", Str, false),
    (
        "FailureReasons",
        List(&Struct(&[
            ("FailureCode", Str, false),
            ("FailureReason", Str, false),
        ])),
        false,
    ),
    ("Report", REPORT, false),
    ("CreationTime", Time, false),
    ("TerminationDate", Time, false),
    ("RoleArn", Str, false),
    ("SuspendedDate", Time, false),
    ("SuspendedCause", Str, false),
    ("ManifestGenerator", MANIFEST_GENERATOR, false),
    (
        "GeneratedManifestDescriptor",
        Struct(&[
            ("Format", Str, false),
            ("Location", MANIFEST_LOCATION, false),
        ]),
        false,
    ),
]);

/// The root element and shape of each operation's success response.
fn output_shape(op: &str) -> (&'static str, Kind) {
    match op {
        "ListJobs" => (
            "ListJobsResult",
            Struct(&[
                ("NextToken", Str, false),
                ("Jobs", List(&JOB_LIST_DESCRIPTOR), false),
            ]),
        ),
        "DescribeJob" => (
            "DescribeJobResult",
            Struct(&[("Job", JOB_DESCRIPTOR, false)]),
        ),
        "GetJobTagging" => ("GetJobTaggingResult", Struct(&[("Tags", TAG_SET, false)])),
        "PutJobTagging" => ("PutJobTaggingResult", Struct(&[])),
        "DeleteJobTagging" => ("DeleteJobTaggingResult", Struct(&[])),
        "UpdateJobPriority" => (
            "UpdateJobPriorityResult",
            Struct(&[("JobId", Str, true), ("Priority", Int, true)]),
        ),
        "UpdateJobStatus" => (
            "UpdateJobStatusResult",
            Struct(&[
                ("JobId", Str, false),
                ("Status", JOB_STATUS, false),
                ("StatusUpdateReason", Str, false),
            ]),
        ),
        "CreateJob" => ("CreateJobResult", Struct(&[("JobId", Str, false)])),
        other => panic!("no output shape for {other}"),
    }
}

/// The wrapped error document the REST-XML protocol expects.
const ERROR_RESPONSE: Kind = Struct(&[
    (
        "Error",
        Struct(&[
            ("Type", Str, false),
            ("Code", Str, true),
            ("Message", Str, true),
        ]),
        true,
    ),
    ("RequestId", Str, true),
]);

/// The errors each operation models (from the SDK's error deserialisers).
fn modeled_errors(op: &str) -> &'static [&'static str] {
    match op {
        "ListJobs" => &[
            "InternalServiceException",
            "InvalidNextTokenException",
            "InvalidRequestException",
        ],
        "DescribeJob" | "UpdateJobPriority" => &[
            "BadRequestException",
            "InternalServiceException",
            "NotFoundException",
            "TooManyRequestsException",
        ],
        "GetJobTagging" | "DeleteJobTagging" => &[
            "InternalServiceException",
            "NotFoundException",
            "TooManyRequestsException",
        ],
        "PutJobTagging" => &[
            "InternalServiceException",
            "NotFoundException",
            "TooManyRequestsException",
            "TooManyTagsException",
        ],
        "UpdateJobStatus" => &[
            "BadRequestException",
            "InternalServiceException",
            "JobStatusException",
            "NotFoundException",
            "TooManyRequestsException",
        ],
        "CreateJob" => &[
            "BadRequestException",
            "IdempotencyException",
            "InternalServiceException",
            "TooManyRequestsException",
        ],
        other => panic!("unknown operation {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// A tiny element tree and the checker.

#[derive(Debug, Default)]
struct Node {
    name: String,
    text: String,
    children: Vec<Node>,
}

fn parse(body: &[u8]) -> Result<Node, String> {
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root = None;
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => stack.push(Node {
                name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                ..Node::default()
            }),
            Event::Empty(e) => {
                let n = Node {
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Node::default()
                };
                match stack.last_mut() {
                    Some(p) => p.children.push(n),
                    None => root = Some(n),
                }
            }
            Event::End(_) => {
                let n = stack.pop().ok_or("unbalanced end tag")?;
                match stack.last_mut() {
                    Some(p) => p.children.push(n),
                    None => root = Some(n),
                }
            }
            Event::Text(t) => {
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&t.decode().map_err(|e| e.to_string())?);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(n) = stack.last_mut() {
                    let c = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                        Some(c) => c,
                        None => match r.decode().map_err(|e| e.to_string())?.as_ref() {
                            "amp" => '&',
                            "lt" => '<',
                            "gt" => '>',
                            "quot" => '"',
                            "apos" => '\'',
                            other => return Err(format!("unknown entity &{other};")),
                        },
                    };
                    n.text.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    root.ok_or_else(|| "empty document".to_string())
}

/// Every way `node` differs from `kind`, as `path: problem`.
fn check(node: &Node, kind: Kind, path: &str, out: &mut Vec<String>) {
    let text = node.text.trim();
    match kind {
        Str | Opaque => {}
        Int => {
            if text.parse::<i64>().is_err() {
                out.push(format!("{path}: `{text}` is not an integer"));
            }
        }
        Bool => {
            if text != "true" && text != "false" {
                out.push(format!("{path}: `{text}` is not a boolean"));
            }
        }
        Time => {
            if chrono::DateTime::parse_from_rfc3339(text).is_err() {
                out.push(format!("{path}: `{text}` is not an ISO-8601 timestamp"));
            }
        }
        Enum(values) => {
            if !values.contains(&text) {
                out.push(format!("{path}: `{text}` is not one of {values:?}"));
            }
        }
        List(item) => {
            for (i, c) in node.children.iter().enumerate() {
                if c.name == "member" {
                    check(c, *item, &format!("{path}/member[{i}]"), out);
                } else {
                    out.push(format!(
                        "{path}: list holds <{}> instead of <member>",
                        c.name
                    ));
                }
            }
        }
        Struct(members) => {
            for c in &node.children {
                match members.iter().find(|(name, _, _)| *name == c.name) {
                    Some((_, k, _)) => check(c, *k, &format!("{path}/{}", c.name), out),
                    None => out.push(format!("{path}: <{}> is not a member of the shape", c.name)),
                }
            }
            for (name, _, required) in members {
                let count = node.children.iter().filter(|c| c.name == *name).count();
                if *required && count == 0 {
                    out.push(format!("{path}: required member <{name}> is missing"));
                }
                if count > 1 {
                    out.push(format!("{path}: <{name}> appears {count} times"));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The client, with every response body captured.

#[derive(Debug)]
struct FixedEndpoint(String);
impl ResolveEndpoint for FixedEndpoint {
    fn resolve_endpoint<'a>(&'a self, _: &'a Params) -> EndpointFuture<'a> {
        EndpointFuture::ready(Ok(Endpoint::builder().url(self.0.clone()).build()))
    }
}

/// (operation, HTTP status, body) of every response the SDK deserialised.
type Seen = Arc<Mutex<Vec<(String, u16, Vec<u8>)>>>;

#[derive(Debug, Clone, Default)]
struct Capture(Seen);

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "capture-response-bodies"
    }

    // After deserialisation the body has been read into memory (before, it is still a stream).
    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_default();
        let response = context.response();
        let body = response
            .body()
            .bytes()
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        self.0
            .lock()
            .expect("capture lock")
            .push((op, response.status().as_u16(), body));
        Ok(())
    }
}

fn client(emu: &EmulatorHandle, capture: &Capture) -> Client {
    let conf = aws_sdk_s3control::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_resolver(FixedEndpoint(emu.endpoint_url()))
        .retry_config(RetryConfig::disabled())
        .interceptor(capture.clone())
        .build();
    Client::from_conf(conf)
}

/// The outcome of one call: `ok` or the error code, failing on anything the SDK could not read.
fn outcome<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    op: &str,
    r: Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>,
) -> String {
    match r {
        Ok(_) => "ok".to_string(),
        Err(SdkError::ServiceError(e)) => {
            let err = e.into_err();
            let code = err
                .code()
                .unwrap_or_else(|| panic!("{op}: error without a code: {err:?}"))
                .to_string();
            assert!(
                err.message().is_some_and(|m| !m.is_empty()),
                "{op}: {code} without a message"
            );
            // A modeled code must come out as its typed variant, not as an unhandled error.
            if modeled_errors(op).contains(&code.as_str()) {
                let debug = format!("{err:?}");
                assert!(
                    !debug.starts_with("Unhandled"),
                    "{op}: modeled {code} was not deserialised as its variant: {debug}"
                );
            }
            code
        }
        Err(other) => panic!("{op}: the SDK could not read the response: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Requests.

fn tag(k: &str, v: &str) -> S3Tag {
    S3Tag::builder().key(k).value(v).build().expect("tag")
}

fn manifest(format: JobManifestFormat) -> JobManifest {
    JobManifest::builder()
        .spec(
            JobManifestSpec::builder()
                .format(format)
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
        .build()
}

/// One `JobOperation` per operation name, each with its required members.
fn operations() -> Vec<(&'static str, JobOperation)> {
    let op = JobOperation::builder;
    vec![
        (
            "LambdaInvoke",
            op().lambda_invoke(
                LambdaInvokeOperation::builder()
                    .function_arn("arn:aws:lambda:us-east-1:123456789012:function:f")
                    .invocation_schema_version("2.0")
                    .build(),
            )
            .build(),
        ),
        (
            "S3PutObjectCopy",
            op().s3_put_object_copy(
                S3CopyObjectOperation::builder()
                    .target_resource("arn:aws:s3:::target")
                    .build(),
            )
            .build(),
        ),
        (
            "S3PutObjectAcl",
            op().s3_put_object_acl(S3SetObjectAclOperation::builder().build())
                .build(),
        ),
        (
            "S3PutObjectTagging",
            op().s3_put_object_tagging(
                S3SetObjectTaggingOperation::builder()
                    .tag_set(tag("x", "y"))
                    .build(),
            )
            .build(),
        ),
        (
            "S3DeleteObjectTagging",
            op().s3_delete_object_tagging(S3DeleteObjectTaggingOperation::builder().build())
                .build(),
        ),
        (
            "S3InitiateRestoreObject",
            op().s3_initiate_restore_object(
                S3InitiateRestoreObjectOperation::builder()
                    .expiration_in_days(3)
                    .build(),
            )
            .build(),
        ),
        (
            "S3PutObjectLegalHold",
            op().s3_put_object_legal_hold(
                S3SetObjectLegalHoldOperation::builder()
                    .legal_hold(
                        S3ObjectLockLegalHold::builder()
                            .status(S3ObjectLockLegalHoldStatus::On)
                            .build()
                            .expect("legal hold"),
                    )
                    .build(),
            )
            .build(),
        ),
        (
            "S3PutObjectRetention",
            op().s3_put_object_retention(
                S3SetObjectRetentionOperation::builder()
                    .retention(S3Retention::builder().build())
                    .build(),
            )
            .build(),
        ),
        (
            "S3ReplicateObject",
            op().s3_replicate_object(S3ReplicateObjectOperation::builder().build())
                .build(),
        ),
        (
            "S3ComputeObjectChecksum",
            op().s3_compute_object_checksum(S3ComputeObjectChecksumOperation::builder().build())
                .build(),
        ),
        (
            "S3UpdateObjectEncryption",
            op().s3_update_object_encryption(
                S3UpdateObjectEncryptionOperation::builder()
                    .object_encryption(
                        ObjectEncryption::builder()
                            .ssekms(
                                S3UpdateObjectEncryptionSsekms::builder()
                                    .kms_key_arn("arn:aws:kms:us-east-1:123456789012:key/k")
                                    .build()
                                    .expect("sse-kms"),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build(),
        ),
    ]
}

fn report() -> JobReport {
    JobReport::builder()
        .enabled(true)
        .bucket("arn:aws:s3:::reports")
        .format(JobReportFormat::ReportCsv20180820)
        .report_scope(JobReportScope::FailedTasksOnly)
        .prefix("r")
        .build()
}

const ROLE: &str = "arn:aws:iam::123456789012:role/batch";

#[tokio::test]
async fn every_operation_and_error_reads_as_the_model_says() {
    let emu = emulator::start(EmulatorOptions {
        simulate: false,
        ..EmulatorOptions::default()
    })
    .await
    .expect("emulator starts");
    let capture = Capture::default();
    let c = client(&emu, &capture);
    let mut outcomes: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut note = |op: &'static str, o: String| {
        outcomes.entry(op).or_default().insert(o);
    };
    let missing = "00000000-0000-4000-8000-000000000000";

    // Generated jobs of every operation: DescribeJob synthesises their Operation element.
    let mut generated = Vec::new();
    for op in OperationName::ALL {
        let id = emu.insert_job(JobSpec {
            operation: op,
            status: JobStatus::Ready,
            tags: vec![emulator::Tag::new("team", "ml")],
            ..JobSpec::default()
        });
        generated.push(id.clone());
        let r = c
            .describe_job()
            .account_id(ACCOUNT)
            .job_id(&id)
            .send()
            .await;
        note("DescribeJob", outcome("DescribeJob", r));
    }

    // CreateJob with every operation (echoed back by DescribeJob), and with a manifest generator.
    let mut created = Vec::new();
    for (i, (name, op)) in operations().into_iter().enumerate() {
        let r = c
            .create_job()
            .account_id(ACCOUNT)
            .client_request_token(format!("tok-{i}"))
            .confirmation_required(i % 2 == 0)
            .description(format!("{name} <job> & co"))
            .manifest(manifest(JobManifestFormat::S3BatchOperationsCsv20180820))
            .operation(op)
            .priority(i as i32)
            .report(report())
            .role_arn(ROLE)
            .tags(tag("team", "ml"))
            .send()
            .await;
        let id = r.as_ref().ok().and_then(|o| o.job_id().map(str::to_string));
        note("CreateJob", outcome("CreateJob", r));
        let id = id.unwrap_or_else(|| panic!("CreateJob {name} failed"));
        let d = c
            .describe_job()
            .account_id(ACCOUNT)
            .job_id(&id)
            .send()
            .await;
        let described = d
            .as_ref()
            .ok()
            .and_then(|o| o.job())
            .and_then(|j| j.operation())
            .map(|o| format!("{o:?}"))
            .unwrap_or_default();
        assert!(
            described.contains(&format!("{}: Some", snake(name))),
            "{name} not echoed: {described}"
        );
        note("DescribeJob", outcome("DescribeJob", d));
        created.push(id);
    }
    let generator = JobManifestGenerator::S3JobManifestGenerator(
        S3JobManifestGenerator::builder()
            .source_bucket("arn:aws:s3:::source")
            .enable_manifest_output(true)
            .manifest_output_location(
                S3ManifestOutputLocation::builder()
                    .bucket("arn:aws:s3:::out")
                    .manifest_format(
                        aws_sdk_s3control::types::GeneratedManifestFormat::S3InventoryReportCsv20211130,
                    )
                    .build()
                    .expect("output location"),
            )
            .build()
            .expect("generator"),
    );
    let r = c
        .create_job()
        .account_id(ACCOUNT)
        .client_request_token("tok-generator")
        .manifest_generator(generator)
        .operation(operations().remove(4).1)
        .priority(5)
        .report(JobReport::builder().enabled(false).build())
        .role_arn(ROLE)
        .send()
        .await;
    let gen_id = r
        .as_ref()
        .ok()
        .and_then(|o| o.job_id().map(str::to_string))
        .expect("CreateJob with a manifest generator");
    note("CreateJob", outcome("CreateJob", r));
    let d = c
        .describe_job()
        .account_id(ACCOUNT)
        .job_id(&gen_id)
        .send()
        .await;
    note("DescribeJob", outcome("DescribeJob", d));

    // CreateJob errors: the same token with another request; values the model forbids.
    let r = c
        .create_job()
        .account_id(ACCOUNT)
        .client_request_token("tok-0")
        .manifest(manifest(JobManifestFormat::S3BatchOperationsCsv20180820))
        .operation(operations().remove(3).1)
        .priority(99)
        .report(report())
        .role_arn(ROLE)
        .send()
        .await;
    assert_eq!(outcome("CreateJob", r), "IdempotencyException");
    note("CreateJob", "IdempotencyException".into());
    for (what, format, role) in [
        (
            "a manifest format outside the enum",
            JobManifestFormat::from("S3BatchOperations_JSON_20990101"),
            ROLE,
        ),
        (
            "a role ARN that is not an IAM role",
            JobManifestFormat::S3BatchOperationsCsv20180820,
            "arn:aws:iam::123456789012:user/bob",
        ),
        (
            "a role ARN of another service",
            JobManifestFormat::S3BatchOperationsCsv20180820,
            "arn:aws:s3:::bucket",
        ),
    ] {
        let r = c
            .create_job()
            .account_id(ACCOUNT)
            .client_request_token(
                format!("tok-bad-{what}")
                    .replace(' ', "-")
                    .chars()
                    .take(60)
                    .collect::<String>(),
            )
            .manifest(manifest(format))
            .operation(operations().remove(3).1)
            .priority(1)
            .report(report())
            .role_arn(role)
            .send()
            .await;
        let o = outcome("CreateJob", r);
        assert_eq!(o, "BadRequestException", "{what}");
        note("CreateJob", o);
    }

    // ListJobs: pages, a bad maxResults, a bad token.
    let r = c
        .list_jobs()
        .account_id(ACCOUNT)
        .max_results(5)
        .send()
        .await;
    let token = r
        .as_ref()
        .ok()
        .and_then(|o| o.next_token().map(str::to_string))
        .expect("a second page");
    note("ListJobs", outcome("ListJobs", r));
    let r = c
        .list_jobs()
        .account_id(ACCOUNT)
        .next_token(token)
        .max_results(1000)
        .send()
        .await;
    note("ListJobs", outcome("ListJobs", r));
    let r = c
        .list_jobs()
        .account_id(ACCOUNT)
        .max_results(1001)
        .send()
        .await;
    assert_eq!(
        outcome("ListJobs", r),
        "InvalidRequestException",
        "maxResults 1001"
    );
    note("ListJobs", "InvalidRequestException".into());
    let r = c
        .list_jobs()
        .account_id(ACCOUNT)
        .next_token("garbage")
        .send()
        .await;
    assert_eq!(outcome("ListJobs", r), "InvalidNextTokenException");
    note("ListJobs", "InvalidNextTokenException".into());

    // DescribeJob errors.
    let r = c
        .describe_job()
        .account_id(ACCOUNT)
        .job_id(missing)
        .send()
        .await;
    note("DescribeJob", outcome("DescribeJob", r));
    let r = c
        .describe_job()
        .account_id(ACCOUNT)
        .job_id("bad!id")
        .send()
        .await;
    note("DescribeJob", outcome("DescribeJob", r));

    // Tagging: read, replace, delete, read again; errors.
    let id = created[0].clone();
    let r = c
        .get_job_tagging()
        .account_id(ACCOUNT)
        .job_id(&id)
        .send()
        .await;
    note("GetJobTagging", outcome("GetJobTagging", r));
    let r = c
        .put_job_tagging()
        .account_id(ACCOUNT)
        .job_id(&id)
        .tags(tag("a", "1"))
        .tags(tag("b", ""))
        .send()
        .await;
    note("PutJobTagging", outcome("PutJobTagging", r));
    let r = c
        .delete_job_tagging()
        .account_id(ACCOUNT)
        .job_id(&id)
        .send()
        .await;
    note("DeleteJobTagging", outcome("DeleteJobTagging", r));
    let tags = c
        .get_job_tagging()
        .account_id(ACCOUNT)
        .job_id(&id)
        .send()
        .await
        .expect("GetJobTagging after delete");
    assert!(
        tags.tags().is_empty(),
        "DeleteJobTagging left {:?}",
        tags.tags()
    );
    assert!(emu.job(ACCOUNT, &id).expect("job").tags.is_empty());
    let r = c
        .get_job_tagging()
        .account_id(ACCOUNT)
        .job_id(missing)
        .send()
        .await;
    note("GetJobTagging", outcome("GetJobTagging", r));
    let r = c
        .delete_job_tagging()
        .account_id(ACCOUNT)
        .job_id(missing)
        .send()
        .await;
    assert_eq!(outcome("DeleteJobTagging", r), "NotFoundException");
    note("DeleteJobTagging", "NotFoundException".into());
    let r = c
        .put_job_tagging()
        .account_id(ACCOUNT)
        .job_id(missing)
        .tags(tag("a", "1"))
        .send()
        .await;
    note("PutJobTagging", outcome("PutJobTagging", r));
    let mut many = c.put_job_tagging().account_id(ACCOUNT).job_id(&id);
    for i in 0..51 {
        many = many.tags(tag(&format!("k{i}"), "v"));
    }
    note("PutJobTagging", outcome("PutJobTagging", many.send().await));
    let r = c
        .put_job_tagging()
        .account_id(ACCOUNT)
        .job_id(&id)
        .tags(tag("semi;colon", "v"))
        .send()
        .await;
    note("PutJobTagging", outcome("PutJobTagging", r));

    // Priority and status.
    let r = c
        .update_job_priority()
        .account_id(ACCOUNT)
        .job_id(&id)
        .priority(2_147_483_647)
        .send()
        .await;
    note("UpdateJobPriority", outcome("UpdateJobPriority", r));
    let r = c
        .update_job_priority()
        .account_id(ACCOUNT)
        .job_id(&id)
        .priority(-1)
        .send()
        .await;
    note("UpdateJobPriority", outcome("UpdateJobPriority", r));
    let r = c
        .update_job_priority()
        .account_id(ACCOUNT)
        .job_id(missing)
        .priority(1)
        .send()
        .await;
    note("UpdateJobPriority", outcome("UpdateJobPriority", r));
    let suspended = emu.insert_job(JobSpec {
        status: JobStatus::Suspended,
        confirmation_required: true,
        ..JobSpec::default()
    });
    let r = c
        .update_job_status()
        .account_id(ACCOUNT)
        .job_id(&suspended)
        .requested_job_status(RequestedJobStatus::Ready)
        .status_update_reason("confirmed")
        .send()
        .await;
    note("UpdateJobStatus", outcome("UpdateJobStatus", r));
    let r = c
        .update_job_status()
        .account_id(ACCOUNT)
        .job_id(&suspended)
        .requested_job_status(RequestedJobStatus::Ready)
        .send()
        .await;
    note("UpdateJobStatus", outcome("UpdateJobStatus", r));
    let r = c
        .update_job_status()
        .account_id(ACCOUNT)
        .job_id(&suspended)
        .requested_job_status(RequestedJobStatus::Cancelled)
        .status_update_reason("x".repeat(300))
        .send()
        .await;
    note("UpdateJobStatus", outcome("UpdateJobStatus", r));
    let r = c
        .update_job_status()
        .account_id(ACCOUNT)
        .job_id(missing)
        .requested_job_status(RequestedJobStatus::Cancelled)
        .send()
        .await;
    note("UpdateJobStatus", outcome("UpdateJobStatus", r));
    let r = c
        .update_job_status()
        .account_id(ACCOUNT)
        .job_id(&generated[0])
        .requested_job_status(RequestedJobStatus::Cancelled)
        .send()
        .await;
    note("UpdateJobStatus", outcome("UpdateJobStatus", r));
    let d = c
        .describe_job()
        .account_id(ACCOUNT)
        .job_id(&generated[0])
        .send()
        .await;
    note("DescribeJob", outcome("DescribeJob", d));

    // Every operation throttled, then every operation failing inside the service.
    for (fraction, fault) in [(1.0, 0.0), (0.0, 1.0)] {
        emu.set_throttle_fraction(fraction);
        emu.set_fault_rate(fault);
        let id = generated[1].as_str();
        let o = outcome("ListJobs", c.list_jobs().account_id(ACCOUNT).send().await);
        note("ListJobs", o);
        let o = outcome(
            "DescribeJob",
            c.describe_job().account_id(ACCOUNT).job_id(id).send().await,
        );
        note("DescribeJob", o);
        let o = outcome(
            "GetJobTagging",
            c.get_job_tagging()
                .account_id(ACCOUNT)
                .job_id(id)
                .send()
                .await,
        );
        note("GetJobTagging", o);
        let o = outcome(
            "PutJobTagging",
            c.put_job_tagging()
                .account_id(ACCOUNT)
                .job_id(id)
                .tags(tag("a", "b"))
                .send()
                .await,
        );
        note("PutJobTagging", o);
        let o = outcome(
            "DeleteJobTagging",
            c.delete_job_tagging()
                .account_id(ACCOUNT)
                .job_id(id)
                .send()
                .await,
        );
        note("DeleteJobTagging", o);
        let o = outcome(
            "UpdateJobPriority",
            c.update_job_priority()
                .account_id(ACCOUNT)
                .job_id(id)
                .priority(3)
                .send()
                .await,
        );
        note("UpdateJobPriority", o);
        let o = outcome(
            "UpdateJobStatus",
            c.update_job_status()
                .account_id(ACCOUNT)
                .job_id(id)
                .requested_job_status(RequestedJobStatus::Cancelled)
                .send()
                .await,
        );
        note("UpdateJobStatus", o);
        let o = outcome(
            "CreateJob",
            c.create_job()
                .account_id(ACCOUNT)
                .client_request_token(format!("tok-fault-{fault}"))
                .manifest(manifest(JobManifestFormat::S3BatchOperationsCsv20180820))
                .operation(operations().remove(3).1)
                .priority(1)
                .report(report())
                .role_arn(ROLE)
                .send()
                .await,
        );
        note("CreateJob", o);
    }
    emu.set_throttle_fraction(0.0);
    emu.set_fault_rate(0.0);

    // Every response the SDK received, against the model.
    let seen = capture.0.lock().expect("capture lock").clone();
    let mut problems = Vec::new();
    for (op, status, body) in &seen {
        let doc = match parse(body) {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("{op} ({status}): not XML: {e}"));
                continue;
            }
        };
        let (root, shape) = if (200..300).contains(status) {
            output_shape(op)
        } else {
            ("ErrorResponse", ERROR_RESPONSE)
        };
        if doc.name != root {
            problems.push(format!(
                "{op} ({status}): root <{}>, expected <{root}>",
                doc.name
            ));
            continue;
        }
        let before = problems.len();
        check(&doc, shape, root, &mut problems);
        for p in &mut problems[before..] {
            *p = format!("{op} ({status}): {p}");
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Every operation, and every outcome the emulator counted, went through the SDK and the
    // checker above.
    let expected: BTreeMap<&str, BTreeSet<&str>> = [
        (
            "CreateJob",
            &[
                "ok",
                "IdempotencyException",
                "BadRequestException",
                "TooManyRequestsException",
                "InternalServiceException",
            ][..],
        ),
        (
            "ListJobs",
            &[
                "ok",
                "InvalidRequestException",
                "InvalidNextTokenException",
                "TooManyRequestsException",
                "InternalServiceException",
            ],
        ),
        (
            "DescribeJob",
            &[
                "ok",
                "NotFoundException",
                "BadRequestException",
                "TooManyRequestsException",
                "InternalServiceException",
            ],
        ),
        (
            "GetJobTagging",
            &[
                "ok",
                "NotFoundException",
                "TooManyRequestsException",
                "InternalServiceException",
            ],
        ),
        (
            "PutJobTagging",
            &[
                "ok",
                "NotFoundException",
                "TooManyTagsException",
                "BadRequestException",
                "TooManyRequestsException",
                "InternalServiceException",
            ],
        ),
        (
            "DeleteJobTagging",
            &[
                "ok",
                "NotFoundException",
                "TooManyRequestsException",
                "InternalServiceException",
            ],
        ),
        (
            "UpdateJobPriority",
            &[
                "ok",
                "NotFoundException",
                "BadRequestException",
                "TooManyRequestsException",
                "InternalServiceException",
            ],
        ),
        (
            "UpdateJobStatus",
            &[
                "ok",
                "JobStatusException",
                "NotFoundException",
                "BadRequestException",
                "TooManyRequestsException",
                "InternalServiceException",
            ],
        ),
    ]
    .into_iter()
    .map(|(op, os)| (op, os.iter().copied().collect()))
    .collect();
    let got: BTreeMap<&str, BTreeSet<&str>> = outcomes
        .iter()
        .map(|(op, os)| (*op, os.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(got, expected);
    let stats = emu.stats();
    let counted: BTreeMap<&str, BTreeSet<&str>> = stats
        .by_operation
        .iter()
        .map(|(op, os)| (op.as_str(), os.keys().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        counted, expected,
        "the emulator answered something not walked here"
    );
    assert_eq!(
        seen.len() as u64,
        stats.total,
        "a response escaped the capture"
    );
    emu.shutdown().await;
}

/// `S3PutObjectLegalHold` -> `s3_put_object_legal_hold`, as the SDK's Debug output names fields.
fn snake(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower = i > 0 && chars[i - 1].is_lowercase();
            let prev_digit = i > 0 && chars[i - 1].is_ascii_digit();
            if i > 0 && (prev_lower || prev_digit) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(*c);
        }
    }
    out
}

#[test]
fn the_checker_catches_what_the_sdk_lets_through() {
    // The SDK reads an empty legal hold without complaint; the checker does not.
    let body = br#"<DescribeJobResult><Job><JobId>abcde</JobId><Operation><S3PutObjectLegalHold/></Operation><Priority>1</Priority></Job></DescribeJobResult>"#;
    let doc = parse(body).expect("xml");
    let mut problems = Vec::new();
    check(
        &doc,
        output_shape("DescribeJob").1,
        "DescribeJobResult",
        &mut problems,
    );
    assert_eq!(
        problems,
        ["DescribeJobResult/Job/Operation/S3PutObjectLegalHold: required member <LegalHold> is missing"]
    );
    let body = br#"<ListJobsResult><Jobs><member><JobId>abcde</JobId><Priorty>1</Priorty><Status>Bogus</Status><CreationTime>yesterday</CreationTime></member></Jobs></ListJobsResult>"#;
    let mut problems = Vec::new();
    check(
        &parse(body).expect("xml"),
        output_shape("ListJobs").1,
        "ListJobsResult",
        &mut problems,
    );
    assert_eq!(problems.len(), 3, "{problems:?}");
}
