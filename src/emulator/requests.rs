//! Decoding and validating request bodies and query values, as the model constrains them.

use std::sync::LazyLock;

use regex::Regex;

use super::error::ApiError;
use super::job::{OperationName, Tag};
use super::xml::{self, XmlNode};

/// At most this many tags per job.
pub const MAX_TAGS: usize = 50;

static TAG_PATTERN: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$").ok());

/// The fields of a CreateJob request the emulator acts on, plus the echoed elements.
#[derive(Debug)]
pub struct CreateJobRequest {
    pub client_request_token: String,
    pub confirmation_required: bool,
    pub description: Option<String>,
    pub operation: OperationName,
    pub operation_xml: XmlNode,
    pub manifest_xml: Option<XmlNode>,
    pub manifest_generator_xml: Option<XmlNode>,
    pub report_xml: XmlNode,
    pub priority: i32,
    pub role_arn: String,
    pub tags: Vec<Tag>,
    /// Identifies the request for ClientRequestToken idempotency.
    pub fingerprint: u64,
}

fn parse_root(body: &[u8], root: &str) -> Result<XmlNode, ApiError> {
    let doc = xml::parse(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if doc.name != root {
        return Err(ApiError::bad_request(format!(
            "expected a <{root}> document, found <{}>",
            doc.name
        )));
    }
    Ok(doc)
}

fn required<'a>(doc: &'a XmlNode, name: &str) -> Result<&'a XmlNode, ApiError> {
    doc.child(name)
        .ok_or_else(|| ApiError::bad_request(format!("missing required element {name}")))
}

pub fn parse_priority(text: &str) -> Result<i32, ApiError> {
    let value: i64 = text
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request(format!("priority `{text}` is not an integer")))?;
    i32::try_from(value)
        .ok()
        .filter(|p| *p >= 0)
        .ok_or_else(|| ApiError::bad_request(format!("priority {value} is outside 0..2147483647")))
}

pub fn parse_create_job(body: &[u8]) -> Result<CreateJobRequest, ApiError> {
    let doc = parse_root(body, "CreateJobRequest")?;
    let token = parse_client_request_token(&doc)?;
    let confirmation_required = parse_confirmation_required(&doc)?;
    let description = parse_description(&doc)?;
    let (operation, operation_xml) = parse_operation(&doc)?;
    let manifest_xml = doc.child("Manifest").cloned();
    let manifest_generator_xml = doc.child("ManifestGenerator").cloned();
    match (&manifest_xml, &manifest_generator_xml) {
        (None, None) => {
            return Err(ApiError::bad_request(
                "either Manifest or ManifestGenerator is required",
            ))
        }
        (Some(m), _) => check_manifest(m)?,
        (None, Some(g)) => check_manifest_generator(g)?,
    }
    let report_xml = required(&doc, "Report")?.clone();
    check_report(&report_xml)?;
    let priority = parse_priority(&required(&doc, "Priority")?.text)?;
    let role_arn = parse_role_arn(&doc)?;
    let tags = match doc.child("Tags") {
        Some(t) => parse_tags(t)?,
        None => Vec::new(),
    };
    Ok(CreateJobRequest {
        client_request_token: token,
        confirmation_required,
        description,
        operation,
        operation_xml,
        manifest_xml,
        manifest_generator_xml,
        report_xml,
        priority,
        role_arn,
        tags,
        fingerprint: fingerprint(&doc),
    })
}

/// `ClientRequestToken`: required, 1..64 characters.
fn parse_client_request_token(doc: &XmlNode) -> Result<String, ApiError> {
    let token = required(doc, "ClientRequestToken")?.text.clone();
    if !(1..=64).contains(&token.chars().count()) {
        return Err(ApiError::bad_request(
            "ClientRequestToken must be 1..64 characters",
        ));
    }
    Ok(token)
}

/// `ConfirmationRequired`: a boolean, false when absent.
fn parse_confirmation_required(doc: &XmlNode) -> Result<bool, ApiError> {
    match doc.child_text("ConfirmationRequired") {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "ConfirmationRequired `{other}` is not a boolean"
        ))),
    }
}

/// `Description`: optional, 1..256 characters when given.
fn parse_description(doc: &XmlNode) -> Result<Option<String>, ApiError> {
    let description = doc.child_text("Description").map(str::to_string);
    if let Some(d) = &description {
        if !(1..=256).contains(&d.chars().count()) {
            return Err(ApiError::bad_request(
                "Description must be 1..256 characters",
            ));
        }
    }
    Ok(description)
}

/// `Operation`: exactly one known operation element with the members the model requires;
/// returns its name and the element as sent (echoed by DescribeJob).
fn parse_operation(doc: &XmlNode) -> Result<(OperationName, XmlNode), ApiError> {
    let operation_xml = required(doc, "Operation")?.clone();
    let operation = match operation_xml.children.as_slice() {
        [one] => {
            let op = one
                .name
                .parse::<OperationName>()
                .map_err(|()| ApiError::bad_request(format!("unknown operation {}", one.name)))?;
            check_operation(op, one)?;
            op
        }
        _ => {
            return Err(ApiError::bad_request(
                "Operation must hold exactly one operation",
            ))
        }
    };
    Ok((operation, operation_xml))
}

/// `Manifest`: `Spec/Format` (and any `Spec/Fields`) from the model's enums, and a
/// `Location` with `ObjectArn` and `ETag`.
fn check_manifest(m: &XmlNode) -> Result<(), ApiError> {
    let spec = required(m, "Spec")?;
    one_of(
        "Manifest/Spec/Format",
        &required(spec, "Format")?.text,
        MANIFEST_FORMATS,
    )?;
    if let Some(fields) = spec.child("Fields") {
        for f in fields.children_named("member") {
            one_of("Manifest/Spec/Fields/member", &f.text, MANIFEST_FIELDS)?;
        }
    }
    let location = required(m, "Location")?;
    required(location, "ObjectArn")?;
    required(location, "ETag")?;
    Ok(())
}

/// `Report`: `Enabled` is a boolean; `Format` and `ReportScope` come from the model's enums.
fn check_report(report: &XmlNode) -> Result<(), ApiError> {
    boolean("Report/Enabled", report.child_text("Enabled"))?;
    if let Some(f) = report.child_text("Format") {
        one_of("Report/Format", f, &["Report_CSV_20180820"])?;
    }
    if let Some(scope) = report.child_text("ReportScope") {
        one_of(
            "Report/ReportScope",
            scope,
            &["AllTasks", "FailedTasksOnly"],
        )?;
    }
    Ok(())
}

/// `RoleArn`: required, an IAM role ARN.
fn parse_role_arn(doc: &XmlNode) -> Result<String, ApiError> {
    let role_arn = required(doc, "RoleArn")?.text.clone();
    if !is_role_arn(&role_arn) {
        return Err(ApiError::bad_request(format!(
            "RoleArn `{role_arn}` is not an IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/NAME, 1..2048 characters)"
        )));
    }
    Ok(role_arn)
}

/// `JobManifestFormat`.
const MANIFEST_FORMATS: &[&str] = &[
    "S3BatchOperations_CSV_20180820",
    "S3InventoryReport_CSV_20161130",
];

/// `JobManifestFieldName`.
const MANIFEST_FIELDS: &[&str] = &["Ignore", "Bucket", "Key", "VersionId"];

static ROLE_ARN: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^arn:[^:]+:iam::\d{12}:role/.*$").ok());

/// `IAMRoleArn`: 1..2048 characters matching `arn:[^:]+:iam::\d{12}:role/.*`.
pub fn is_role_arn(s: &str) -> bool {
    (1..=2048).contains(&s.len()) && ROLE_ARN.as_ref().is_some_and(|re| re.is_match(s))
}

fn one_of(what: &str, value: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{what} `{value}` is not one of {}",
            allowed.join(", ")
        )))
    }
}

fn boolean(what: &str, value: Option<&str>) -> Result<(), ApiError> {
    match value {
        Some("true" | "false") => Ok(()),
        _ => Err(ApiError::bad_request(format!(
            "{what} must be true or false"
        ))),
    }
}

/// The members the model requires inside the operation element.
fn check_operation(op: OperationName, body: &XmlNode) -> Result<(), ApiError> {
    match op {
        OperationName::S3PutObjectLegalHold => {
            let hold = required(body, "LegalHold")?;
            one_of(
                "S3PutObjectLegalHold/LegalHold/Status",
                &required(hold, "Status")?.text,
                &["ON", "OFF"],
            )
        }
        OperationName::S3PutObjectRetention => {
            let retention = required(body, "Retention")?;
            if let Some(mode) = retention.child_text("Mode") {
                one_of(
                    "S3PutObjectRetention/Retention/Mode",
                    mode,
                    &["COMPLIANCE", "GOVERNANCE"],
                )?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `ManifestGenerator/S3JobManifestGenerator` and its required members.
fn check_manifest_generator(g: &XmlNode) -> Result<(), ApiError> {
    let s3 = required(g, "S3JobManifestGenerator")?;
    required(s3, "SourceBucket")?;
    boolean(
        "S3JobManifestGenerator/EnableManifestOutput",
        Some(required(s3, "EnableManifestOutput")?.text.as_str()),
    )?;
    if let Some(out) = s3.child("ManifestOutputLocation") {
        required(out, "Bucket")?;
        one_of(
            "ManifestOutputLocation/ManifestFormat",
            &required(out, "ManifestFormat")?.text,
            &["S3InventoryReport_CSV_20211130"],
        )?;
    }
    Ok(())
}

pub fn parse_put_job_tagging(body: &[u8]) -> Result<Vec<Tag>, ApiError> {
    let doc = parse_root(body, "PutJobTaggingRequest")?;
    parse_tags(required(&doc, "Tags")?)
}

/// `Tags/member/{Key,Value}`, validated against the model's constraints.
pub fn parse_tags(tags: &XmlNode) -> Result<Vec<Tag>, ApiError> {
    let members: Vec<&XmlNode> = tags.children_named("member").collect();
    if members.len() > MAX_TAGS {
        return Err(ApiError::too_many_tags(members.len()));
    }
    let mut out: Vec<Tag> = Vec::with_capacity(members.len());
    for m in members {
        let key = required(m, "Key")?.text.clone();
        let value = m.child_text("Value").unwrap_or_default().to_string();
        validate_tag(&key, &value)?;
        if out.iter().any(|t| t.key == key) {
            return Err(ApiError::bad_request(format!(
                "tag key `{key}` appears twice"
            )));
        }
        out.push(Tag { key, value });
    }
    Ok(out)
}

fn validate_tag(key: &str, value: &str) -> Result<(), ApiError> {
    let matches = |s: &str| TAG_PATTERN.as_ref().is_some_and(|re| re.is_match(s));
    if !(1..=128).contains(&key.chars().count()) || !matches(key) {
        return Err(ApiError::bad_request(format!(
            "tag key `{key}` must be 1..128 letters, digits, spaces or _.:/=+-@"
        )));
    }
    if value.chars().count() > 256 || !matches(value) {
        return Err(ApiError::bad_request(format!(
            "tag value `{value}` must be 0..256 letters, digits, spaces or _.:/=+-@"
        )));
    }
    Ok(())
}

/// A stable hash of the document (FNV-1a over its canonical JSON form).
fn fingerprint(doc: &XmlNode) -> u64 {
    let canon = serde_json::to_string(doc).unwrap_or_default();
    crate::hash::fnv1a64(canon.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_outside_the_range_are_bad_requests() {
        assert_eq!(parse_priority("0"), Ok(0));
        assert_eq!(parse_priority("2147483647"), Ok(i32::MAX));
        for bad in [
            "-1",
            "2147483648",
            "abc",
            "",
            "1.5",
            "99999999999999999999999",
        ] {
            assert_eq!(
                parse_priority(bad).unwrap_err().code,
                "BadRequestException",
                "{bad}"
            );
        }
    }

    #[test]
    fn role_arns_follow_the_model_pattern() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/batch"));
        assert!(is_role_arn("arn:aws-cn:iam::123456789012:role/path/batch"));
        for bad in [
            "",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::123456789012:user/bob",
            "arn:aws:iam::12345:role/batch",
            "arn::iam::123456789012:role/batch",
            "role/batch",
        ] {
            assert!(!is_role_arn(bad), "{bad}");
        }
        assert!(!is_role_arn(&format!(
            "arn:aws:iam::123456789012:role/{}",
            "r".repeat(2048)
        )));
    }

    #[test]
    fn tags_are_validated() {
        let doc = |inner: &str| xml::parse(format!("<Tags>{inner}</Tags>").as_bytes()).unwrap();
        let ok = parse_tags(&doc(
            "<member><Key>team</Key><Value>ml</Value></member><member><Key>e</Key><Value/></member>",
        ))
        .unwrap();
        assert_eq!(ok, vec![Tag::new("team", "ml"), Tag::new("e", "")]);
        let dup = "<member><Key>a</Key><Value>1</Value></member>".repeat(2);
        assert!(parse_tags(&doc(&dup)).is_err());
        assert!(parse_tags(&doc("<member><Key></Key><Value>1</Value></member>")).is_err());
        assert!(parse_tags(&doc("<member><Key>a;b</Key><Value>1</Value></member>")).is_err());
        let many: String = (0..51)
            .map(|i| format!("<member><Key>k{i}</Key><Value>v</Value></member>"))
            .collect();
        assert_eq!(
            parse_tags(&doc(&many)).unwrap_err().code,
            "TooManyTagsException"
        );
    }
}
