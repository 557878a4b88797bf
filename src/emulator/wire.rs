//! Response documents, element by element as the wire reference lists them.

use super::error::ApiError;
use super::job::EmulatorJob;
use super::xml::{XmlNode, XmlWriter};

pub fn error_response(err: &ApiError, request_id: &str) -> String {
    let mut w = XmlWriter::bare_document("ErrorResponse");
    w.open("Error");
    w.leaf("Code", err.code);
    w.leaf("Message", &err.message);
    w.close("Error");
    w.leaf("RequestId", request_id);
    w.finish("ErrorResponse")
}

fn progress(w: &mut XmlWriter, job: &EmulatorJob) {
    let p = &job.progress;
    w.open("ProgressSummary");
    w.leaf_int("TotalNumberOfTasks", p.total_tasks);
    w.leaf_int("NumberOfTasksSucceeded", p.succeeded);
    w.leaf_int("NumberOfTasksFailed", p.failed);
    w.open("Timers");
    w.leaf_int("ElapsedTimeInActiveSeconds", p.elapsed_active_seconds);
    w.close("Timers");
    w.close("ProgressSummary");
}

pub fn list_jobs(jobs: &[&EmulatorJob], next_token: Option<&str>) -> String {
    let mut w = XmlWriter::document("ListJobsResult").with_capacity_hint(jobs.len() * 520);
    w.leaf_opt("NextToken", next_token);
    w.open("Jobs");
    for job in jobs {
        w.open("member");
        w.leaf("JobId", &job.id);
        w.leaf_opt("Description", job.description.as_deref());
        w.leaf("Operation", job.operation.as_str());
        w.leaf_int("Priority", i64::from(job.priority));
        w.leaf("Status", job.status.as_str());
        w.leaf_time("CreationTime", &job.creation_time);
        if let Some(t) = &job.termination_date {
            w.leaf_time("TerminationDate", t);
        }
        progress(&mut w, job);
        w.close("member");
    }
    w.close("Jobs");
    w.finish("ListJobsResult")
}

/// A short stable hex digest, for synthesised ETags.
fn digest(s: &str) -> String {
    let h = crate::hash::fnv1a64(s.as_bytes());
    format!("{h:016x}{:016x}", h.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15)
}

fn leaf_node(name: &str, text: impl Into<String>) -> XmlNode {
    XmlNode {
        name: name.into(),
        text: text.into(),
        children: Vec::new(),
    }
}

fn node(name: &str, children: Vec<XmlNode>) -> XmlNode {
    XmlNode {
        name: name.into(),
        text: String::new(),
        children,
    }
}

/// The manifest a generated job would have been created with.
fn synthetic_manifest(job: &EmulatorJob) -> XmlNode {
    node(
        "Manifest",
        vec![
            node(
                "Spec",
                vec![
                    leaf_node("Format", "S3BatchOperations_CSV_20180820"),
                    node(
                        "Fields",
                        vec![leaf_node("member", "Bucket"), leaf_node("member", "Key")],
                    ),
                ],
            ),
            node(
                "Location",
                vec![
                    leaf_node(
                        "ObjectArn",
                        format!(
                            "arn:aws:s3:::emu-manifests-{}/manifests/{}.csv",
                            job.account_id, job.id
                        ),
                    ),
                    leaf_node("ETag", digest(&job.id)),
                ],
            ),
        ],
    )
}

/// The `Operation` a generated job would have been created with: every member the model
/// requires (`LegalHold/Status`, `Retention`) and the ones a console-made job typically has.
fn synthetic_operation(job: &EmulatorJob) -> XmlNode {
    use super::job::OperationName as Op;
    let account = &job.account_id;
    let body = match job.operation {
        Op::LambdaInvoke => vec![
            leaf_node(
                "FunctionArn",
                format!("arn:aws:lambda:us-east-1:{account}:function:emu-batch"),
            ),
            leaf_node("InvocationSchemaVersion", "2.0"),
        ],
        Op::S3PutObjectCopy => vec![
            leaf_node(
                "TargetResource",
                format!("arn:aws:s3:::emu-copies-{account}"),
            ),
            leaf_node("MetadataDirective", "COPY"),
            leaf_node("StorageClass", "STANDARD"),
        ],
        Op::S3PutObjectAcl => vec![node(
            "AccessControlPolicy",
            vec![leaf_node("CannedAccessControlList", "private")],
        )],
        Op::S3PutObjectTagging => vec![node(
            "TagSet",
            vec![node(
                "member",
                vec![leaf_node("Key", "batch"), leaf_node("Value", "emulator")],
            )],
        )],
        Op::S3DeleteObjectTagging | Op::S3ReplicateObject => Vec::new(),
        Op::S3InitiateRestoreObject => vec![
            leaf_node("ExpirationInDays", "7"),
            leaf_node("GlacierJobTier", "BULK"),
        ],
        Op::S3PutObjectLegalHold => vec![node("LegalHold", vec![leaf_node("Status", "ON")])],
        Op::S3PutObjectRetention => vec![
            leaf_node("BypassGovernanceRetention", "false"),
            node(
                "Retention",
                vec![
                    leaf_node("RetainUntilDate", "2030-01-01T00:00:00.000Z"),
                    leaf_node("Mode", "GOVERNANCE"),
                ],
            ),
        ],
        Op::S3ComputeObjectChecksum => vec![
            leaf_node("ChecksumAlgorithm", "CRC64NVME"),
            leaf_node("ChecksumType", "FULL_OBJECT"),
        ],
        Op::S3UpdateObjectEncryption => vec![node(
            "ObjectEncryption",
            vec![node(
                "SSE-KMS",
                vec![leaf_node(
                    "KMSKeyArn",
                    format!("arn:aws:kms:us-east-1:{account}:key/emu-key"),
                )],
            )],
        )],
    };
    node(
        "Operation",
        vec![XmlNode {
            name: job.operation.as_str().to_string(),
            text: String::new(),
            children: body,
        }],
    )
}

fn synthetic_report(job: &EmulatorJob) -> XmlNode {
    node(
        "Report",
        vec![
            leaf_node(
                "Bucket",
                format!("arn:aws:s3:::emu-reports-{}", job.account_id),
            ),
            leaf_node("Format", "Report_CSV_20180820"),
            leaf_node("Enabled", "true"),
            leaf_node("Prefix", "batch-reports"),
            leaf_node("ReportScope", "AllTasks"),
        ],
    )
}

pub fn describe_job(job: &EmulatorJob) -> String {
    let mut w = XmlWriter::document("DescribeJobResult");
    w.open("Job");
    w.leaf("JobId", &job.id);
    w.leaf_display("ConfirmationRequired", job.confirmation_required);
    w.leaf_opt("Description", job.description.as_deref());
    w.leaf("JobArn", &job.arn());
    w.leaf("Status", job.status.as_str());
    match (&job.manifest_xml, &job.manifest_generator_xml) {
        (Some(m), _) => m.write_to(&mut w),
        (None, None) => synthetic_manifest(job).write_to(&mut w),
        (None, Some(_)) => {}
    }
    match &job.operation_xml {
        Some(op) => op.write_to(&mut w),
        None => synthetic_operation(job).write_to(&mut w),
    }
    w.leaf_int("Priority", i64::from(job.priority));
    progress(&mut w, job);
    w.leaf_opt("StatusUpdateReason", job.status_update_reason.as_deref());
    if !job.failure_reasons.is_empty() {
        w.open("FailureReasons");
        for f in &job.failure_reasons {
            w.open("member");
            w.leaf("FailureCode", &f.code);
            w.leaf("FailureReason", &f.reason);
            w.close("member");
        }
        w.close("FailureReasons");
    }
    match &job.report_xml {
        Some(r) => r.write_to(&mut w),
        None => synthetic_report(job).write_to(&mut w),
    }
    w.leaf_time("CreationTime", &job.creation_time);
    if let Some(t) = &job.termination_date {
        w.leaf_time("TerminationDate", t);
    }
    w.leaf("RoleArn", &job.role_arn);
    if let Some(t) = &job.suspended_date {
        w.leaf_time("SuspendedDate", t);
    }
    w.leaf_opt("SuspendedCause", job.suspended_cause.as_deref());
    if let Some(g) = &job.manifest_generator_xml {
        g.write_to(&mut w);
    }
    w.close("Job");
    w.finish("DescribeJobResult")
}

pub fn get_job_tagging(job: &EmulatorJob) -> String {
    let mut w = XmlWriter::document("GetJobTaggingResult");
    w.open("Tags");
    for t in &job.tags {
        w.open("member");
        w.leaf("Key", &t.key);
        w.leaf("Value", &t.value);
        w.close("member");
    }
    w.close("Tags");
    w.finish("GetJobTaggingResult")
}

pub fn put_job_tagging() -> String {
    XmlWriter::document("PutJobTaggingResult").finish("PutJobTaggingResult")
}

pub fn delete_job_tagging() -> String {
    XmlWriter::document("DeleteJobTaggingResult").finish("DeleteJobTaggingResult")
}

pub fn update_job_priority(id: &str, priority: i32) -> String {
    let mut w = XmlWriter::document("UpdateJobPriorityResult");
    w.leaf("JobId", id);
    w.leaf_display("Priority", priority);
    w.finish("UpdateJobPriorityResult")
}

pub fn update_job_status(job: &EmulatorJob) -> String {
    let mut w = XmlWriter::document("UpdateJobStatusResult");
    w.leaf("JobId", &job.id);
    w.leaf("Status", job.status.as_str());
    w.leaf_opt("StatusUpdateReason", job.status_update_reason.as_deref());
    w.finish("UpdateJobStatusResult")
}

pub fn create_job(id: &str) -> String {
    let mut w = XmlWriter::document("CreateJobResult");
    w.leaf("JobId", id);
    w.finish("CreateJobResult")
}
