//! AWS Organizations (awsJson 1.1) and STS `AssumeRole` (awsQuery) on the emulator's port,
//! written from `organizations-sts-wire.md`: both are `POST /`, which no S3 Control job
//! operation uses, so the job router hands them here.
//!
//! Who calls: the emulator checks no signature, but it reads the access key id from the SigV4
//! `Authorization` header. A key its own STS handed out acts in the account of the role it was
//! issued for; any other key acts as the organization's management account. So a member
//! account's role that calls `ListAccounts` is refused (AccessDeniedException), as in AWS.
//!
//! Choices where the reference is silent: malformed JSON is `SerializationException` (400); an
//! unknown `X-Amz-Target` is `UnknownOperationException` (400); `ParentId` must match the
//! model's pattern (`InvalidInputException`, reason `INVALID_PATTERN`); a missing `ParentId`
//! is `InvalidInputException` (reason `INPUT_REQUIRED`). STS: a malformed or missing input is
//! `ValidationError` (400), an unknown `Action` or `Version` is `InvalidAction` (400), a role
//! that does not exist or denies the caller is `AccessDenied` (403). Fault injection (500s,
//! dropped connections, throttling) applies to the job API only; outages and added latency
//! apply here too.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};

use super::job::is_valid_account_id;
use super::org::{Directory, ListError, OrgAccount, Page, MAX_ORG_RESULTS, ORGANIZATION_ID};
use super::state::{lock, EmulatorState as Shared};
use super::stats::OUTCOME_OK;
use super::xml::XmlWriter;

const ORGANIZATIONS_PREFIX: &str = "AWSOrganizationsV20161128.";
const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const STS_VERSION: &str = "2011-06-15";

/// An Organizations error: `__type`, `Message` and, for InvalidInputException, `Reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct JsonError {
    code: &'static str,
    status: u16,
    message: String,
    reason: Option<&'static str>,
}

impl JsonError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        JsonError {
            code,
            status: 400,
            message: message.into(),
            reason: None,
        }
    }

    fn invalid_input(reason: &'static str, message: impl Into<String>) -> Self {
        JsonError {
            reason: Some(reason),
            ..Self::new("InvalidInputException", message)
        }
    }
}

impl From<ListError> for JsonError {
    fn from(e: ListError) -> Self {
        match e {
            ListError::NotInUse => JsonError::new(
                "AWSOrganizationsNotInUseException",
                "Your account is not a member of an organization.",
            ),
            ListError::ParentNotFound(p) => JsonError::new(
                "ParentNotFoundException",
                format!("We can't find a root or OU with the ParentId that you specified: {p}"),
            ),
            ListError::InvalidToken => JsonError::invalid_input(
                "INVALID_NEXT_TOKEN",
                "You specified an invalid value for nextToken.",
            ),
        }
    }
}

/// An STS error (`ErrorResponse` > `Error` > `Type`, `Code`, `Message`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct QueryError {
    code: &'static str,
    status: u16,
    message: String,
}

impl QueryError {
    fn validation(message: impl Into<String>) -> Self {
        QueryError {
            code: "ValidationError",
            status: 400,
            message: message.into(),
        }
    }
}

/// The access key id of a SigV4 `Authorization` header.
pub(crate) fn access_key(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let start = auth.find("Credential=")? + "Credential=".len();
    let rest = &auth[start..];
    let end = rest.find('/')?;
    Some(rest[..end].to_string())
}

/// The region of a SigV4 `Authorization` header's credential scope
/// (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`): the region the client signed for.
pub(crate) fn signed_region(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let start = auth.find("Credential=")? + "Credential=".len();
    let scope = auth[start..].split([',', ' ']).next()?;
    scope.split('/').nth(2).map(str::to_string)
}

/// Handles a `POST /`: Organizations when `X-Amz-Target` says so, STS otherwise.
pub(crate) fn handle(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    body: &Bytes,
    request_id: &str,
) -> Response {
    let caller = access_key(headers);
    match headers.get("x-amz-target").map(|v| v.to_str()) {
        Some(target) => {
            let target = target.unwrap_or("");
            let op = target.strip_prefix(ORGANIZATIONS_PREFIX).unwrap_or(target);
            let op_name = organizations_operation_name(op);
            let result = organizations(shared, op, caller.as_deref(), body);
            let outcome = match &result {
                Ok(_) => OUTCOME_OK,
                Err(e) => e.code,
            };
            shared.record(op_name, None, None, outcome);
            match result {
                Ok(value) => json_response(200, &value, request_id),
                Err(e) => {
                    let mut value = json!({ "__type": e.code, "Message": e.message });
                    if let (Some(reason), Some(map)) = (e.reason, value.as_object_mut()) {
                        map.insert("Reason".into(), Value::String(reason.into()));
                    }
                    json_response(e.status, &value, request_id)
                }
            }
        }
        None => {
            let form = parse_form(body);
            let action = form_value(&form, "Action");
            let op_name = match action {
                Some("AssumeRole") => "AssumeRole",
                _ => "UnknownStsAction",
            };
            let result = sts(shared, &form, caller.as_deref(), request_id);
            let (outcome, account) = match &result {
                Ok((_, account)) => (OUTCOME_OK, Some(account.clone())),
                Err((e, account)) => (e.code, account.clone()),
            };
            shared.record(op_name, account.as_deref(), None, outcome);
            match result {
                Ok((xml, _)) => xml_response(200, xml, request_id),
                Err((e, _)) => xml_response(e.status, sts_error(&e, request_id), request_id),
            }
        }
    }
}

/// The name the stats count an Organizations request under.
fn organizations_operation_name(op: &str) -> &'static str {
    match op {
        "ListAccounts" => "ListAccounts",
        "ListAccountsForParent" => "ListAccountsForParent",
        "ListOrganizationalUnitsForParent" => "ListOrganizationalUnitsForParent",
        "ListRoots" => "ListRoots",
        _ => "UnknownOrganizationsOperation",
    }
}

fn json_response(status: u16, value: &Value, request_id: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, value.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

fn xml_response(status: u16, body: String, request_id: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// Organizations.

fn organizations(
    shared: &Shared,
    op: &str,
    caller: Option<&str>,
    body: &Bytes,
) -> Result<Value, JsonError> {
    let input: Map<String, Value> = if body.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Err(JsonError::new(
                    "SerializationException",
                    "the request body must be a JSON object",
                ))
            }
            Err(e) => {
                return Err(JsonError::new(
                    "SerializationException",
                    format!("the request body is not JSON: {e}"),
                ))
            }
        }
    };
    if !matches!(
        op,
        "ListAccounts" | "ListAccountsForParent" | "ListOrganizationalUnitsForParent" | "ListRoots"
    ) {
        return Err(JsonError::new(
            "UnknownOperationException",
            format!("the emulator does not serve Organizations operation `{op}`"),
        ));
    }
    let max = max_results(&input)?;
    let token = string_member(&input, "NextToken")?;
    let dir = lock(&shared.org);
    authorize(&dir, caller)?;
    match op {
        "ListAccounts" => {
            let page = dir.list_accounts(max, token)?;
            Ok(accounts_json(&dir, page))
        }
        "ListAccountsForParent" => {
            let parent = parent_id(&input)?;
            let page = dir.list_accounts_for_parent(parent, max, token)?;
            Ok(accounts_json(&dir, page))
        }
        "ListOrganizationalUnitsForParent" => {
            let parent = parent_id(&input)?;
            let page = dir.list_ous_for_parent(parent, max, token)?;
            let ous: Vec<Value> = page
                .items
                .iter()
                .map(|ou| {
                    json!({
                        "Id": ou.id,
                        "Arn": format!("arn:aws:organizations::{}:ou/{ORGANIZATION_ID}/{}", management(&dir), ou.id),
                        "Name": ou.name,
                        "Path": format!("{}{}/", dir.path_of(&ou.parent), ou.id),
                    })
                })
                .collect();
            Ok(with_token(
                json!({ "OrganizationalUnits": ous }),
                page.next_token,
            ))
        }
        _ => {
            let page = dir.list_roots(max, token)?;
            let roots: Vec<Value> = page
                .items
                .iter()
                .map(|id| {
                    json!({
                        "Id": id,
                        "Arn": format!("arn:aws:organizations::{}:root/{ORGANIZATION_ID}/{id}", management(&dir)),
                        "Name": "Root",
                        "PolicyTypes": [],
                    })
                })
                .collect();
            Ok(with_token(json!({ "Roots": roots }), page.next_token))
        }
    }
}

fn management(dir: &Directory) -> &str {
    dir.management_account().unwrap_or("000000000000")
}

/// Only the management account may list (delegated administrators are not modelled).
fn authorize(dir: &Directory, caller: Option<&str>) -> Result<(), JsonError> {
    let account = caller.and_then(|key| dir.session_account(key));
    match (account, dir.management_account()) {
        (Some(acting), Some(mgmt)) if acting != mgmt => Err(JsonError::new(
            "AccessDeniedException",
            "You don't have permissions to access this resource.",
        )),
        _ => Ok(()),
    }
}

fn max_results(input: &Map<String, Value>) -> Result<usize, JsonError> {
    match input.get("MaxResults") {
        None | Some(Value::Null) => Ok(MAX_ORG_RESULTS),
        Some(v) => match v.as_i64() {
            Some(n) if (1..=MAX_ORG_RESULTS as i64).contains(&n) => Ok(n as usize),
            Some(n) if n < 1 => Err(JsonError::invalid_input(
                "MIN_VALUE_EXCEEDED",
                format!("MaxResults {n} is below 1"),
            )),
            Some(n) => Err(JsonError::invalid_input(
                "MAX_VALUE_EXCEEDED",
                format!("MaxResults {n} is above {MAX_ORG_RESULTS}"),
            )),
            None => Err(JsonError::new(
                "SerializationException",
                format!("MaxResults must be an integer, not {v}"),
            )),
        },
    }
}

fn string_member<'a>(
    input: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, JsonError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(JsonError::new(
            "SerializationException",
            format!("{name} must be a string, not {v}"),
        )),
    }
}

/// `^(r-[0-9a-z]{4,32})|(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`, the model's pattern.
fn is_valid_parent_id(id: &str) -> bool {
    let part = |s: &str, lo: usize, hi: usize| {
        (lo..=hi).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    };
    if let Some(rest) = id.strip_prefix("r-") {
        return part(rest, 4, 32);
    }
    if let Some(rest) = id.strip_prefix("ou-") {
        return match rest.split_once('-') {
            Some((a, b)) => part(a, 4, 32) && part(b, 8, 32),
            None => false,
        };
    }
    false
}

fn parent_id(input: &Map<String, Value>) -> Result<&str, JsonError> {
    let id = string_member(input, "ParentId")?
        .ok_or_else(|| JsonError::invalid_input("INPUT_REQUIRED", "ParentId is required"))?;
    if !is_valid_parent_id(id) {
        return Err(JsonError::invalid_input(
            "INVALID_PATTERN",
            format!("ParentId `{id}` is neither a root id (r-...) nor an OU id (ou-...-...)"),
        ));
    }
    Ok(id)
}

fn with_token(mut value: Value, token: Option<String>) -> Value {
    if let (Some(t), Some(map)) = (token, value.as_object_mut()) {
        map.insert("NextToken".into(), Value::String(t));
    }
    value
}

fn account_json(dir: &Directory, a: &OrgAccount) -> Value {
    json!({
        "Id": a.id,
        "Arn": format!("arn:aws:organizations::{}:account/{ORGANIZATION_ID}/{}", management(dir), a.id),
        "Email": a.email,
        "Name": a.name,
        "Status": a.status.as_str(),
        "State": a.status.as_str(),
        "Paths": [format!("{}{}/", dir.path_of(&a.parent), a.id)],
        "JoinedMethod": if Some(a.id.as_str()) == dir.management_account() { "CREATED" } else { "INVITED" },
        // JSON protocols send timestamps as epoch seconds.
        "JoinedTimestamp": a.joined.timestamp_millis() as f64 / 1000.0,
    })
}

fn accounts_json(dir: &Directory, page: Page<OrgAccount>) -> Value {
    let accounts: Vec<Value> = page.items.iter().map(|a| account_json(dir, a)).collect();
    with_token(json!({ "Accounts": accounts }), page.next_token)
}

// ---------------------------------------------------------------------------------------------
// STS.

/// `application/x-www-form-urlencoded` pairs, decoded (`+` is a space).
fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = s
                        .get(i + 1..i + 3)
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match hex {
                        Some(b) => {
                            out.push(b);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn form_value<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `arn:aws:iam::ACCOUNT:role/[PATH/]NAME` -> (account, name).
fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:")?;
    let (_partition, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix("iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let path = resource.strip_prefix("role/")?;
    let name = path.rsplit('/').next()?;
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    (is_valid_account_id(account) && name_ok).then_some((account, name))
}

fn valid_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

type StsResult = Result<(String, String), (QueryError, Option<String>)>;

fn sts(
    shared: &Shared,
    form: &[(String, String)],
    caller: Option<&str>,
    request_id: &str,
) -> StsResult {
    let action = form_value(form, "Action");
    let version = form_value(form, "Version");
    if action != Some("AssumeRole") || version != Some(STS_VERSION) {
        return Err((
            QueryError {
                code: "InvalidAction",
                status: 400,
                message: format!(
                    "Could not find operation {} for version {}; the emulator's STS serves AssumeRole, version {STS_VERSION}",
                    action.unwrap_or("(none)"),
                    version.unwrap_or("(none)")
                ),
            },
            None,
        ));
    }
    let no_account = |e: QueryError| (e, None);
    let role_arn = form_value(form, "RoleArn").ok_or_else(|| {
        no_account(QueryError::validation(
            "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
        ))
    })?;
    let (account, role) = parse_role_arn(role_arn).ok_or_else(|| {
        no_account(QueryError::validation(format!(
            "{role_arn} is invalid: a role ARN looks like arn:aws:iam::123456789012:role/NAME"
        )))
    })?;
    let with_account = |e: QueryError| (e, Some(account.to_string()));
    let session = form_value(form, "RoleSessionName").ok_or_else(|| {
        with_account(QueryError::validation(
            "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null",
        ))
    })?;
    if !valid_session_name(session) {
        return Err(with_account(QueryError::validation(format!(
            "RoleSessionName `{session}` must be 2..64 characters of letters, digits and +=,.@_-"
        ))));
    }
    let duration = match form_value(form, "DurationSeconds") {
        None => 3600,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (900..=43_200).contains(&n) => n,
            _ => {
                return Err(with_account(QueryError::validation(format!(
                    "DurationSeconds {raw} must be an integer between 900 and 43200"
                ))))
            }
        },
    };
    let mut dir = lock(&shared.org);
    let acting = caller
        .and_then(|k| dir.session_account(k))
        .or(dir.management_account())
        .unwrap_or(super::DEFAULT_ACCOUNT_ID)
        .to_string();
    if dir.role(account, role) != Some(super::org::RoleAccess::Assumable) {
        return Err(with_account(QueryError {
            code: "AccessDenied",
            status: 403,
            message: format!(
                "User: arn:aws:iam::{acting}:user/s3prio-emulator is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
            ),
        }));
    }
    let access_key = format!("ASIA{request_id}");
    dir.remember_session(access_key.clone(), account.to_string(), caller);
    drop(dir);
    let expiration = Utc::now() + Duration::seconds(duration);
    Ok((
        assume_role_xml(&access_key, account, role, session, &expiration, request_id),
        account.to_string(),
    ))
}

fn assume_role_xml(
    access_key: &str,
    account: &str,
    role: &str,
    session: &str,
    expiration: &DateTime<Utc>,
    request_id: &str,
) -> String {
    let mut w = XmlWriter::document_in("AssumeRoleResponse", STS_NAMESPACE);
    w.open("AssumeRoleResult");
    w.open("AssumedRoleUser");
    w.leaf(
        "AssumedRoleId",
        &format!("AROA{}:{session}", &request_id[..request_id.len().min(16)]),
    );
    w.leaf(
        "Arn",
        &format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
    );
    w.close("AssumedRoleUser");
    w.open("Credentials");
    w.leaf("AccessKeyId", access_key);
    w.leaf(
        "SecretAccessKey",
        &format!("emulator/{request_id}/secret-access-key"),
    );
    w.leaf(
        "SessionToken",
        &format!("FwoGZXIvYXdzEMULATOR{request_id}{account}"),
    );
    w.leaf(
        "Expiration",
        &expiration.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    w.close("Credentials");
    w.close("AssumeRoleResult");
    w.open("ResponseMetadata");
    w.leaf("RequestId", request_id);
    w.close("ResponseMetadata");
    w.finish("AssumeRoleResponse")
}

fn sts_error(e: &QueryError, request_id: &str) -> String {
    let mut w = XmlWriter::document_in("ErrorResponse", STS_NAMESPACE);
    w.open("Error");
    w.leaf(
        "Type",
        if e.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        },
    );
    w.leaf("Code", e.code);
    w.leaf("Message", &e.message);
    w.close("Error");
    w.leaf("RequestId", request_id);
    w.finish("ErrorResponse")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_ids_follow_the_model_pattern() {
        assert!(is_valid_parent_id(super::super::org::ROOT_ID));
        assert!(is_valid_parent_id("ou-s3pr-00000001"));
        assert!(!is_valid_parent_id("ou-s3pr-0001"));
        assert!(!is_valid_parent_id("r-AB12"));
        assert!(!is_valid_parent_id("123456789012"));
    }

    #[test]
    fn role_arns_and_session_names() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/s3prio"),
            Some(("123456789012", "s3prio"))
        );
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/team/a/s3prio"),
            Some(("123456789012", "s3prio"))
        );
        assert_eq!(parse_role_arn("arn:aws:iam::12345:role/s3prio"), None);
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:user/s3prio"),
            None
        );
        assert!(valid_session_name("s3prio"));
        assert!(!valid_session_name("x"));
        assert!(!valid_session_name("has space"));
    }

    #[test]
    fn forms_decode_plus_and_percent() {
        let form = parse_form(b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx&A=b+c");
        assert_eq!(form_value(&form, "RoleArn"), Some("arn:aws:iam::1:role/x"));
        assert_eq!(form_value(&form, "A"), Some("b c"));
    }

    #[test]
    fn access_key_from_authorization() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=ASIA0123/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=ab",
            ),
        );
        assert_eq!(access_key(&h).as_deref(), Some("ASIA0123"));
        assert_eq!(access_key(&HeaderMap::new()), None);
    }
}
