//! How fast an office's pages load in the web app: the synthetic province
//! (its districts and schools, a school year each) served by real nodes on
//! loopback, the web app in front of each office as its operator, and each
//! dashboard page fetched twice over HTTP. The second fetch is the one a
//! person waits for on a working day (the node's caches are warm); it is
//! reported next to the node's own gRPC answer behind the page, measured in
//! the same run: the fastest way to get the same data here, so the ratio is
//! what the web app adds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use edusync_config::NodeConfig;
use edusync_node::{load_key, RunningNode};
use edusync_proto::wire;
use edusync_proto::wire::record_service_client::RecordServiceClient;

use crate::fixture::setup;
use crate::rederive::{synthetic_province, SyntheticProvince};
use crate::BenchError;

/// The budget a page must load within at its second request.
pub const PAGE_BUDGET_MS: f64 = 300.0;

#[derive(Clone, Debug, serde::Serialize)]
pub struct PageLoad {
    /// The office whose page it is.
    pub office: String,
    /// Units directly below it (rows of its heat map and tables).
    pub children: usize,
    pub page: String,
    pub bytes: usize,
    pub first_ms: f64,
    pub second_ms: f64,
    /// The node's own answer behind the page (gRPC, warm), in the same run.
    pub node_ms: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Dashboard {
    pub schools: u32,
    pub districts: u32,
    pub school_records: u64,
    pub budget_ms: f64,
    pub pages: Vec<PageLoad>,
}

/// A node served on loopback for the measurement, and how to reach it as its operator.
struct Served {
    running: RunningNode,
    config: NodeConfig,
}

impl Served {
    fn endpoint(&self) -> String {
        format!("http://{}", self.running.address())
    }

    async fn session(&self) -> Result<(tonic::transport::Channel, edusync_node::OpenedSession), String> {
        let key = load_key(&self.config.data_dir).map_err(|error| error.to_string())?;
        let channel = tonic::transport::Endpoint::from_shared(self.endpoint())
            .map_err(|error| error.to_string())?
            .connect()
            .await
            .map_err(|error| error.to_string())?;
        let session = edusync_node::open_session(channel.clone(), &self.config.organisation.id, &key, Vec::new())
            .await
            .map_err(|status| status.message().to_owned())?;
        Ok((channel, session))
    }
}

/// One HTTP/1.1 GET, read to its end: the status, the body's size, the time.
async fn get(address: std::net::SocketAddr, path: &str, cookie: &str) -> Result<(u16, String, f64), BenchError> {
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(address).await.map_err(setup)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nCookie: edusync_session={cookie}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.map_err(setup)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.map_err(setup)?;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    Ok((status, answer, elapsed))
}

/// Signs in through the printed address and returns the session cookie.
async fn sign_in(address: std::net::SocketAddr, url: &str) -> Result<String, BenchError> {
    let path = url.split_once(&address.to_string()).map(|(_, path)| path).unwrap_or_default();
    let (status, answer, _) = get(address, path, "").await?;
    let cookie = answer
        .lines()
        .find_map(|line| {
            line.strip_prefix("set-cookie: edusync_session=").or(line.strip_prefix("Set-Cookie: edusync_session="))
        })
        .and_then(|rest| rest.split(';').next())
        .ok_or_else(|| setup(format!("signing in answered {status} without a session cookie")))?;
    Ok(cookie.to_owned())
}

/// The node's answer behind a page, timed (the second of two calls).
async fn node_answer(served: &Served, page: &str, year: edusync_core::SchoolYear) -> Result<f64, BenchError> {
    let (channel, session) = served.session().await.map_err(setup)?;
    let mut client = RecordServiceClient::with_interceptor(channel, session.bearer).max_decoding_message_size(64 << 20);
    let school_year = year.to_string();
    let period = Some(edusync_proto::period_to_wire(edusync_core::Period::school_year(year)));
    let mut elapsed = 0.0;
    for _ in 0..2 {
        let started = Instant::now();
        let answered = match page {
            "home" => client.get_node_info(wire::GetNodeInfoRequest {}).await.map(|_| ()),
            "compliance" => {
                client.get_compliance(wire::GetComplianceRequest { school_year: school_year.clone() }).await.map(|_| ())
            }
            "tables" => client
                .query(wire::QueryRequest { period, dimension: "category".into(), trend: Vec::new() })
                .await
                .map(|_| ()),
            _ => client.list_records(wire::ListRecordsRequest { limit: 100, ..Default::default() }).await.map(|_| ()),
        };
        answered.map_err(|status| setup(format!("the node's answer for {page}: {}", status.message())))?;
        elapsed = started.elapsed().as_secs_f64() * 1000.0;
    }
    Ok(elapsed)
}

async fn measure_office(served: &Served, year: edusync_core::SchoolYear) -> Result<Vec<PageLoad>, BenchError> {
    let school_year = year.to_string();
    let config = served.config.clone();
    let endpoint = served.endpoint();
    let connect: edusync_web::Connect = Arc::new(move || {
        let (config, endpoint) = (config.clone(), endpoint.clone());
        Box::pin(async move {
            let key = load_key(&config.data_dir).map_err(|error| error.to_string())?;
            let channel = tonic::transport::Endpoint::from_shared(endpoint)
                .map_err(|error| error.to_string())?
                .connect()
                .await
                .map_err(|error| error.to_string())?;
            let session = edusync_node::open_session(channel.clone(), &config.organisation.id, &key, Vec::new())
                .await
                .map_err(|status| status.message().to_owned())?;
            Ok((channel, session.bearer, session.role))
        })
    });
    let web = edusync_web::start(edusync_web::WebOptions {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        tls: None,
        language: edusync_i18n::Language::Vietnamese,
        utc_offset: chrono::FixedOffset::east_opt(7 * 3600).ok_or_else(|| setup("no +07:00"))?,
        connect,
    })
    .await
    .map_err(setup)?;
    let cookie = sign_in(web.address, &web.sign_in_url).await?;
    let children = {
        let (channel, session) = served.session().await.map_err(setup)?;
        let mut client = RecordServiceClient::with_interceptor(channel, session.bearer);
        let compliance = client
            .get_compliance(wire::GetComplianceRequest { school_year: school_year.clone() })
            .await
            .map_err(|status| setup(status.message().to_owned()))?;
        compliance.into_inner().children.len()
    };
    let office = served.config.organisation.id.to_string();
    let pages = [
        ("home", "/".to_owned()),
        ("compliance", format!("/compliance?school_year={school_year}")),
        ("tables", format!("/tables?period={school_year}&by=category")),
        ("records", "/records".to_owned()),
    ];
    let mut loads = Vec::new();
    for (name, path) in pages {
        let (status, first, first_ms) = get(web.address, &path, &cookie).await?;
        if status != 200 {
            return Err(setup(format!("{office} {path} answered {status}: {}", first.get(..600).unwrap_or(&first))));
        }
        let (_, second, second_ms) = get(web.address, &path, &cookie).await?;
        let node_ms = node_answer(served, name, year).await?;
        loads.push(PageLoad {
            office: office.clone(),
            children,
            page: path,
            bytes: second.len(),
            first_ms,
            second_ms,
            node_ms,
        });
    }
    Ok(loads)
}

pub async fn measure_dashboard(schools: u32, districts: u32, seed: u64) -> Result<Dashboard, BenchError> {
    let root = tempfile::tempdir().map_err(setup)?;
    let path = root.path().to_path_buf();
    let built = tokio::task::spawn_blocking(move || synthetic_province(&path, schools, districts, seed))
        .await
        .map_err(setup)??;
    let SyntheticProvince {
        province, province_config, school, district, district_config, year, school_records, ..
    } = built;
    // Closed here, so that each store's one writer is the node served below.
    drop((province, school, district));
    let mut served = Vec::new();
    for mut config in [district_config, province_config] {
        // Served alone: no sync rounds to a parent that is not there.
        config.parent = None;
        let running = RunningNode::start(&config).await.map_err(setup)?;
        served.push(Served { running, config });
    }
    let mut pages = Vec::new();
    for office in &served {
        pages.extend(measure_office(office, year).await?);
    }
    for office in served {
        // A shutdown that hangs would only hold the report back.
        let _ = tokio::time::timeout(Duration::from_secs(30), office.running.shutdown()).await;
    }
    Ok(Dashboard { schools, districts, school_records, budget_ms: PAGE_BUDGET_MS, pages })
}
