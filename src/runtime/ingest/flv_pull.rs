//! An HTTP-FLV source: one GET (`https://` through the shared rustls setup), its body parsed into FLV
//! tags as it arrives by the sans-IO [`FlvReader`].

use crate::media::flv::{FlvReader, FlvTag};
use crate::net::https_client::{self, Connector};
use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// Longest wait for the connection and the response head.
const START_TIMEOUT: Duration = Duration::from_secs(10);

pub struct FlvPull {
    body: Incoming,
    reader: FlvReader,
}

impl FlvPull {
    /// GET `url`; an answer other than 200 is an error.
    pub async fn start(url: &str) -> anyhow::Result<FlvPull> {
        let uri: http::Uri = url.parse().with_context(|| format!("bad URL {url}"))?;
        let tls = if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
            Some(https_client::client_config(None)?)
        } else {
            None
        };
        let client: Client<_, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build(Connector::new(tls, START_TIMEOUT));
        let request = http::Request::get(uri)
            .header(
                "user-agent",
                concat!("oryx-ingest/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())?;
        let response = tokio::time::timeout(START_TIMEOUT, client.request(request))
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {START_TIMEOUT:?}"))?
            .map_err(|err| anyhow::anyhow!("{}", https_client::error_chain(&err)))?;
        let status = response.status();
        if status != http::StatusCode::OK {
            bail!("HTTP {status}");
        }
        Ok(FlvPull {
            body: response.into_body(),
            reader: FlvReader::new(),
        })
    }

    /// The next tag. Cancel-safe: bytes read stay in the reader.
    pub async fn next_tag(&mut self) -> anyhow::Result<FlvTag> {
        loop {
            if let Some(tag) = self.reader.next_tag().context("bad FLV from the source")? {
                return Ok(tag);
            }
            match self.body.frame().await {
                None => bail!("the source ended its body"),
                Some(Err(err)) => bail!("read failed: {}", https_client::error_chain(&err)),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.reader.push(&data);
                    }
                }
            }
        }
    }
}
