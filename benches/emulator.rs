//! Emulator throughput: ListJobs pages of 1,000 jobs from a population of 100,000, in process
//! and through the real SDK client over HTTP. Run: `cargo bench --bench emulator`
//! (needs `[[bench]] name = "emulator" harness = false` in Cargo.toml).
// Wall time is what this benchmark measures.
#![allow(clippy::disallowed_types)]

use std::time::{Duration, Instant};

use aws_sdk_s3control::config::endpoint::{Endpoint, EndpointFuture, Params, ResolveEndpoint};
use aws_sdk_s3control::config::retry::RetryConfig;
use aws_sdk_s3control::config::{BehaviorVersion, Credentials, Region};
use s3prio::emulator::{self, EmulatorOptions, DEFAULT_ACCOUNT_ID as ACCOUNT};

#[derive(Debug)]
struct FixedEndpoint(String);
impl ResolveEndpoint for FixedEndpoint {
    fn resolve_endpoint<'a>(&'a self, _: &'a Params) -> EndpointFuture<'a> {
        EndpointFuture::ready(Ok(Endpoint::builder().url(self.0.clone()).build()))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn report(label: &str, mut pages: Vec<Duration>) {
    pages.sort();
    let mean =
        pages.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / pages.len().max(1) as f64;
    println!(
        "{label:<34} {:>4} pages  mean {mean:6.2} ms  p50 {:6.2} ms  p99 {:6.2} ms  max {:6.2} ms",
        pages.len(),
        percentile(&pages, 0.5),
        percentile(&pages, 0.99),
        percentile(&pages, 1.0),
    );
}

async fn raw_list(addr: std::net::SocketAddr, token: Option<&str>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let query = token.map(|t| format!("&nextToken={t}")).unwrap_or_default();
    let req = format!(
        "GET /v20180820/jobs?maxResults=1000{query} HTTP/1.1\r\nHost: x\r\n\
         x-amz-account-id: {ACCOUNT}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("read");
    String::from_utf8_lossy(&buf).into_owned()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let t = Instant::now();
        let emu = emulator::start(EmulatorOptions {
            jobs: 100_000,
            simulate: false,
            ..EmulatorOptions::default()
        })
        .await
        .expect("emulator");
        println!(
            "population: {} jobs generated in {:?}",
            emu.job_count(),
            t.elapsed()
        );

        for _round in 0..3 {
            let mut pages = Vec::new();
            let mut token = None;
            loop {
                let t = Instant::now();
                let (_, next) = emu.list_page_direct(ACCOUNT, 1000, token.as_deref());
                pages.push(t.elapsed());
                match next {
                    Some(n) => token = Some(n),
                    None => break,
                }
            }
            report("in process (store walk + XML)", pages);
        }

        // Raw HTTP (no SDK parsing): what the emulator costs a client over the wire.
        for _round in 0..3 {
            let mut pages = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let t = Instant::now();
                let body = raw_list(emu.addr(), token.as_deref()).await;
                pages.push(t.elapsed());
                token = body
                    .split_once("<NextToken>")
                    .and_then(|(_, rest)| rest.split_once("</NextToken>"))
                    .map(|(tok, _)| tok.to_string());
                if token.is_none() {
                    break;
                }
            }
            report("raw HTTP/1.1 (server + transfer)", pages);
        }

        let conf = aws_sdk_s3control::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .endpoint_resolver(FixedEndpoint(emu.endpoint_url()))
            .retry_config(RetryConfig::disabled())
            .build();
        let client = aws_sdk_s3control::Client::from_conf(conf);
        for _round in 0..3 {
            let mut pages = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let t = Instant::now();
                let out = client
                    .list_jobs()
                    .account_id(ACCOUNT)
                    .max_results(1000)
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .expect("ListJobs");
                pages.push(t.elapsed());
                match out.next_token() {
                    Some(n) => token = Some(n.to_string()),
                    None => break,
                }
            }
            report("SDK over HTTP (end to end)", pages);
        }
        let stats = emu.stats();
        println!(
            "requests served: {} ({} ok)",
            stats.total,
            stats.count("ListJobs", "ok")
        );
        emu.shutdown().await;
    });
}
