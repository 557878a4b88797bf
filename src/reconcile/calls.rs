//! The calls of a cycle as futures the scheduler polls: a read of one job, or one stage of a
//! change. Each resolves to [`Done`], which `completions` turns into decisions.

use std::future::Future;
use std::pin::Pin;

use super::book::{ReadItem, ReadWhat};
use super::writer::{Stage, WriteItem};
use crate::aws::pace::Permit;
use crate::aws::{observe, CallContext, CallError, Permits};
use crate::model::{JobDetails, Tags};

/// What the scheduler talks to.
#[derive(Clone, Copy)]
pub(super) struct Io<'a> {
    pub client: &'a aws_sdk_s3control::Client,
    pub ctx: &'a CallContext,
    pub account: &'a str,
}

pub(super) enum Fetched {
    Tags(Tags),
    Details(JobDetails),
}

/// A call that returned.
pub(super) enum Done {
    Read(ReadItem, Result<Fetched, CallError>),
    /// A stage of a change: the tags it read (check stage), or nothing.
    Write(Box<WriteItem>, Result<Option<Tags>, CallError>),
}

pub(super) type Call<'a> = Pin<Box<dyn Future<Output = Done> + Send + 'a>>;

/// Reads what `item` asks of job `id`, its first attempt under `permit`.
pub(super) fn read(io: Io<'_>, item: ReadItem, id: String, permit: Permit) -> Call<'_> {
    let first = Some(Permits {
        target: permit,
        write: None,
    });
    Box::pin(async move {
        let result = match item.what {
            ReadWhat::Tags => observe::job_tags(io.client, io.ctx, io.account, &id, first)
                .await
                .map(Fetched::Tags),
            ReadWhat::Details => observe::job_details(io.client, io.ctx, io.account, &id, first)
                .await
                .map(Fetched::Details),
        };
        Done::Read(item, result)
    })
}

/// Sends the next stage of change `w`, its first attempt under `permits`.
pub(super) fn write(io: Io<'_>, w: WriteItem, permits: Permits) -> Call<'_> {
    let id = w.change.job_id.clone();
    let w = Box::new(w);
    Box::pin(async move {
        let (client, ctx, account) = (io.client, io.ctx, io.account);
        let result = match (w.stage, &w.put_tags) {
            (Stage::Check, _) => observe::job_tags(client, ctx, account, &id, Some(permits))
                .await
                .map(Some),
            (Stage::Put, Some(t)) => observe::put_tags(client, ctx, account, &id, t, Some(permits))
                .await
                .map(|()| None),
            (Stage::Put, None) => Ok(None),
            (Stage::Ready | Stage::Update, _) => {
                observe::update_priority(client, ctx, account, &id, w.change.to, Some(permits))
                    .await
                    .map(|_| None)
            }
        };
        Done::Write(w, result)
    })
}
