//! `edusync demo`.

use std::path::PathBuf;

use edusync_core::SchoolYear;
use edusync_demo::{run_demo, DemoOptions, DemoReport};

use crate::failure::Failure;
use crate::output::{json, pad};

#[derive(clap::Args)]
pub(crate) struct DemoArgs {
    #[arg(long, default_value_t = 1)]
    provinces: usize,
    #[arg(long, default_value_t = 2)]
    districts: usize,
    /// Schools in each district.
    #[arg(long, default_value_t = 3)]
    schools: usize,
    /// Keep every node's config, key and store here (an empty directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seed of the synthetic records; the same seed writes the same records.
    #[arg(long, default_value_t = 2024)]
    seed: u64,
    /// The school year to fill, e.g. 2024-2025; defaults to the last complete one.
    #[arg(long)]
    school_year: Option<String>,
    /// Print one JSON document instead of tables.
    #[arg(long)]
    json: bool,
    /// Keep the hierarchy running and serve the web app for the ministry's
    /// operator, one school's operator and a data officer of the province;
    /// prints one address for each. Stop with Ctrl-C.
    #[arg(long)]
    web: bool,
}

pub(crate) async fn run(args: DemoArgs, language: edusync_i18n::Language) -> Result<(), Failure> {
    let school_year = match &args.school_year {
        Some(text) => {
            text.parse::<SchoolYear>().map_err(|error| Failure::input(format!("--school-year: {}", error.reason)))?
        }
        None => last_complete_school_year()?,
    };
    let options = DemoOptions {
        provinces: args.provinces,
        districts_per_province: args.districts,
        schools_per_district: args.schools,
        dir: args.dir,
        seed: args.seed,
        school_year,
    };
    let failed = |error: edusync_demo::DemoError| match error {
        edusync_demo::DemoError::Options(_) | edusync_demo::DemoError::Directory { .. } => {
            Failure::input(error.to_string())
        }
        other => Failure::other(anyhow::Error::new(other)),
    };
    if !args.web {
        let report = run_demo(options).await.map_err(failed)?;
        if args.json {
            println!("{}", json(&report));
        } else {
            print_tables(&report, language);
        }
        return Ok(());
    }
    let (report, kept) = edusync_demo::run_demo_kept(options).await.map_err(failed)?;
    if args.json {
        println!("{}", json(&report));
    } else {
        print_tables(&report, language);
    }
    let served = serve_web(&kept, language).await;
    let stopped = kept.shutdown().await.map_err(failed);
    served.and(stopped)
}

/// The web app for each of the demo's people, until Ctrl-C.
async fn serve_web(kept: &edusync_demo::KeptDemo, language: edusync_i18n::Language) -> Result<(), Failure> {
    let utc_offset = chrono::FixedOffset::east_opt(7 * 3600).ok_or_else(|| Failure::input("no +07:00 offset"))?;
    let mut servers = Vec::new();
    println!();
    println!("The web app, one address per person (each signs one browser in, once):");
    for access in &kept.access {
        let (endpoint, org, key, chain) =
            (access.endpoint.clone(), access.org.clone(), std::sync::Arc::clone(&access.key), access.chain.clone());
        let connect: edusync_web::Connect = std::sync::Arc::new(move || {
            let (endpoint, org, key, chain) =
                (endpoint.clone(), org.clone(), std::sync::Arc::clone(&key), chain.clone());
            Box::pin(async move {
                let channel = tonic::transport::Endpoint::from_shared(endpoint.clone())
                    .map_err(|error| format!("{endpoint}: {error}"))?
                    .connect()
                    .await
                    .map_err(|error| format!("cannot reach {endpoint}: {error}"))?;
                let session = edusync_node::open_session(channel.clone(), &org, &key, chain)
                    .await
                    .map_err(|status| status.message().to_owned())?;
                Ok((channel, session.bearer, session.role))
            })
        });
        let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let running = edusync_web::start(edusync_web::WebOptions { listen, tls: None, language, utc_offset, connect })
            .await
            .map_err(|error| Failure::input(error.to_string()))?;
        println!("  {:<28} {}", access.label, running.sign_in_url);
        servers.push(running);
    }
    println!("Stop with Ctrl-C.");
    let waiting = futures_wait(servers);
    tokio::select! {
        served = waiting => served,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// Until the first web server stops on an error.
async fn futures_wait(servers: Vec<edusync_web::Running>) -> Result<(), Failure> {
    let (sender, mut receiver) = tokio::sync::mpsc::channel(servers.len().max(1));
    for server in servers {
        let sender = sender.clone();
        tokio::spawn(async move {
            let _ = sender.send(server.wait().await).await;
        });
    }
    drop(sender);
    match receiver.recv().await {
        Some(Err(error)) => Err(Failure::other(anyhow::anyhow!("{error}"))),
        _ => Ok(()),
    }
}

fn last_complete_school_year() -> Result<SchoolYear, Failure> {
    let today = chrono::Utc::now().date_naive();
    let current =
        SchoolYear::containing(today).ok_or_else(|| Failure::input("today is outside the supported school years"))?;
    let start = u32::from(current.start_year()).saturating_sub(1).max(2000);
    SchoolYear::new("school_year", start).map_err(|error| Failure::input(error.to_string()))
}

/// The demo in the user's language. Only what the seed decides is printed
/// (records, counts, released values); how many aggregate revisions were
/// signed on the way depends on timing and is in `--json` only.
fn print_tables(report: &DemoReport, language: edusync_i18n::Language) {
    let say = |words: [&'static str; 3]| language.pick(words);
    let (year, nodes, written) = (report.school_year.to_string(), report.nodes.len(), report.records_written);
    let (fill, sync, total) = (report.fill_seconds, report.sync_seconds, report.total_seconds);
    println!(
        "{}",
        language.pick([
            format!("edusync demo: school year {year}, {nodes} nodes on 127.0.0.1, {written} records written in {fill:.1} s, synced in {sync:.1} s ({total:.1} s in all)"),
            format!("edusync demo: năm học {year}, {nodes} nút trên 127.0.0.1, ghi {written} bản ghi trong {fill:.1} giây, đồng bộ trong {sync:.1} giây (tổng {total:.1} giây)"),
            format!("edusync demo：{year} 学年，127.0.0.1 上 {nodes} 个节点，{fill:.1} 秒写入 {written} 条记录，{sync:.1} 秒完成同步（共 {total:.1} 秒）"),
        ])
    );
    println!();
    println!(
        "{}",
        say([
            "What each node holds (own = records written there, beside its aggregates; the kinds count what it holds, its children's included):",
            "Mỗi nút đang giữ gì (tự ghi = bản ghi do nút đó ghi, ngoài các bản tổng hợp; các loại tính cả của đơn vị cấp dưới):",
            "各节点持有的内容（自写 = 在该节点写入的记录，不含汇总；各类数目含下级单位的记录）：",
        ])
    );
    println!(
        "{} {} {} {} {} {} {} {} {}",
        pad(say(["ORGANISATION", "ĐƠN VỊ", "单位"]), 20),
        pad(say(["NAME", "TÊN", "名称"]), 32),
        pad(say(["OWN", "TỰ GHI", "自写"]), 7),
        pad(say(["PLANS", "KẾ HOẠCH", "计划"]), 8),
        pad(say(["REPORTS", "BÁO CÁO", "报告"]), 7),
        pad(say(["COMMIT", "CAM KẾT", "承诺"]), 7),
        pad(say(["INCIDENTS", "VỤ VIỆC", "事件"]), 9),
        pad(say(["RISK", "RỦI RO", "风险"]), 6),
        say(["PARENT", "CẤP TRÊN", "上级"]),
    );
    for node in &report.nodes {
        let indent = "  ".repeat(node.org_id.matches('.').count());
        let parent = match node.acknowledged_by_parent {
            Some(acknowledged) if acknowledged == node.shared_log_head => {
                say(["holds all", "đã giữ đủ", "已全部持有"]).to_owned()
            }
            Some(acknowledged) => format!("{acknowledged}/{}", node.shared_log_head),
            None => "-".to_owned(),
        };
        println!(
            "{} {} {} {} {} {} {} {} {}",
            pad(&format!("{indent}{}", node.org_id), 20),
            pad(&node.display_name, 32),
            pad(&node.own.total().saturating_sub(node.own.aggregate).to_string(), 7),
            pad(&node.held.plan.to_string(), 8),
            pad(&node.held.periodic_report.to_string(), 7),
            pad(&node.held.commitment.to_string(), 7),
            pad(&node.held.incident.to_string(), 9),
            pad(&node.held.risk_register.to_string(), 6),
            parent
        );
    }
    println!();
    println!(
        "{}",
        language.pick([
            format!("Incident cases in school year {year}, from each node's latest signed aggregate (exact counts; each total is\nits own count plus the sum of its children's aggregates, committed to by a Merkle sum tree):"),
            format!("Số vụ việc năm học {year}, theo bản tổng hợp đã ký mới nhất của từng nút (số chính xác; mỗi tổng bằng số\ncủa chính nút đó cộng tổng các bản tổng hợp của cấp dưới, cam kết bằng cây tổng Merkle):"),
            format!("{year} 学年的事件数，取自各节点最新的已签名汇总（精确数；每个总数等于本节点自身的数目\n加上下级汇总之和，由 Merkle 求和树承诺）："),
        ])
    );
    println!(
        "{} {} {} {} {} {} {} {} {}",
        pad(say(["ORGANISATION", "ĐƠN VỊ", "单位"]), 20),
        pad(say(["CASES", "SỐ VỤ", "案件"]), 6),
        pad(say(["MINOR", "NHẸ", "轻微"]), 6),
        pad(say(["SERIOUS", "NẶNG", "严重"]), 8),
        pad(say(["SEVERE", "RẤT NẶNG", "特别严重"]), 9),
        pad(say(["NOTIFIED<=12H", "BÁO <=12 GIỜ", "12小时内上报"]), 14),
        pad(say(["OVERDUE", "QUÁ HẠN", "逾期"]), 8),
        pad(say(["SCHOOLS", "SỐ TRƯỜNG", "学校数"]), 9),
        say(["CROSSES", "BẢNG CHÉO", "交叉表"]),
    );
    for node in &report.nodes {
        let Some(totals) = &node.totals else { continue };
        let indent = "  ".repeat(node.org_id.matches('.').count());
        println!(
            "{} {} {} {} {} {} {} {} {}",
            pad(&format!("{indent}{}", node.org_id), 20),
            pad(&totals.incident_cases.to_string(), 6),
            pad(&totals.minor.to_string(), 6),
            pad(&totals.serious.to_string(), 8),
            pad(&totals.severe.to_string(), 9),
            pad(&totals.notified_within_12_hours.to_string(), 14),
            pad(&totals.investigations_overdue.to_string(), 8),
            pad(&totals.contributing_schools.to_string(), 9),
            match totals.crosses {
                "released" => say(["released", "đã công bố", "已发布"]),
                "frozen" => say(["frozen (budget spent)", "giữ nguyên (hết ngân sách)", "冻结（预算用尽）"]),
                other => other,
            },
        );
    }
    println!();
    println!(
        "{}",
        say([
            "The same, as a data officer is shown it: each unit's cases exact (its compliance table shows them);\nhow they break down released by each office under differential privacy, every count with its 90%\nmargin (12±3), from a release charged to the office's privacy ledger and the same for every reader\nuntil the next scheduled one (in the demo drawn from --seed, so the same seed shows the same values):",
            "Cũng số liệu đó, như người đọc số liệu được xem: số vụ của từng đơn vị là chính xác (bảng tình hình thực hiện\ncũng hiển thị); cách chia theo loại được từng đơn vị công bố theo quyền riêng tư vi phân, mỗi số kèm biên độ\n90% (12±3), từ một lần công bố được ghi vào sổ quyền riêng tư của đơn vị và giống nhau với mọi người đọc\ncho đến lần công bố theo lịch kế tiếp (trong bản demo, lấy từ --seed: cùng seed thì cùng giá trị):",
            "同样的数字，按数据查阅人员所见：各单位的案件数是精确的（合规表中也显示）；其细分由各单位按差分隐私\n发布，每个数附 90% 误差范围（12±3），来自记入该单位隐私账本的一次发布，在下一次定期发布之前\n对所有查阅者相同（演示中由 --seed 决定：相同的 seed 显示相同的值）：",
        ])
    );
    println!(
        "{} {} {} {} {}",
        pad(say(["ORGANISATION", "ĐƠN VỊ", "单位"]), 20),
        pad(say(["CASES", "SỐ VỤ", "案件"]), 6),
        pad(say(["MINOR", "NHẸ", "轻微"]), 8),
        pad(say(["SERIOUS", "NẶNG", "严重"]), 8),
        say(["SEVERE", "RẤT NẶNG", "特别严重"]),
    );
    let cell = |value: Option<edusync_rollup::released::Noisy>| match value {
        Some(noisy) if noisy.margin > 0 => format!("{}±{}", noisy.value, noisy.margin),
        Some(noisy) => noisy.value.to_string(),
        None => "-".to_owned(),
    };
    for row in &report.reader_view {
        let label = row
            .org_id
            .clone()
            .unwrap_or_else(|| say(["(office's own)", "(của chính đơn vị)", "（本单位自身）"]).to_owned());
        println!(
            "{} {} {} {} {}",
            pad(&format!("{}{label}", "  ".repeat(row.depth)), 20),
            pad(&row.cases.to_string(), 6),
            pad(&cell(row.minor), 8),
            pad(&cell(row.serious), 8),
            cell(row.severe)
        );
    }
    println!(
        "{}",
        say([
            "CROSSES: victims and perpetrators by sex x grade band x at-risk group leave each school only with discrete\nLaplace noise (epsilon 0.5 per release, 2.0 per school year by default), once the period has ended.",
            "BẢNG CHÉO: người bị hại và người gây ra theo giới tính x khối lớp x nhóm nguy cơ chỉ rời trường khi đã cộng\nnhiễu Laplace rời rạc (mặc định epsilon 0,5 mỗi lần công bố, 2,0 mỗi năm học), sau khi kỳ đã kết thúc.",
            "交叉表：按性别 x 年级段 x 风险群体统计的受害者和实施者，仅在期间结束后加上离散拉普拉斯噪声才离开学校\n（默认每次发布 epsilon 0.5，每学年 2.0）。",
        ])
    );
    println!();
    let verification = &report.verification;
    let (signatures, roll_ups) = (verification.signatures_checked, verification.roll_ups_checked);
    let (ministry, schools) = (verification.ministry_incident_cases, verification.schools_incident_cases);
    if verification.verified {
        println!(
            "{}",
            language.pick([
                format!("Verified from the ministry down: {signatures} signatures and {roll_ups} roll-ups (totals and Merkle roots) check; the ministry's {ministry} cases\nequal the {schools} counted directly from the schools' raw records."),
                format!("Đã kiểm tra từ Bộ xuống: {signatures} chữ ký và {roll_ups} phép tổng hợp (tổng và gốc Merkle) đều đúng; {ministry} vụ của Bộ\nbằng {schools} vụ đếm trực tiếp từ hồ sơ gốc của các trường."),
                format!("自教育部向下核验：{signatures} 个签名和 {roll_ups} 次汇总（总数与 Merkle 根）均正确；教育部的 {ministry} 起案件\n等于直接从各学校原始记录统计的 {schools} 起。"),
            ])
        );
    } else {
        println!("{}", say(["VERIFICATION FAILED:", "KIỂM TRA KHÔNG ĐẠT:", "核验失败："]));
        for problem in &verification.problems {
            println!("  {problem}");
        }
    }
    let at_schools = |count: fn(&edusync_demo::NodeSummary) -> u64| -> u64 {
        report.nodes.iter().filter(|node| node.level == "school").map(count).sum()
    };
    let incidents = at_schools(|node| node.held.incident);
    let registers = at_schools(|node| node.held.risk_register);
    let equivocations: usize = report.nodes.iter().map(|node| node.equivocations).sum();
    println!();
    println!(
        "{}",
        language.pick([
            format!("Raw records stay local: {incidents} incidents and {registers} risk registers (with children's names), and the periodic reports, are held only by the schools that wrote them."),
            format!("Hồ sơ gốc ở lại trường: {incidents} vụ việc và {registers} sổ theo dõi nguy cơ (có tên học sinh), cùng các báo cáo định kỳ, chỉ do trường đã ghi giữ."),
            format!("原始记录留在本地：{incidents} 起事件和 {registers} 份风险登记（含学生姓名）以及定期报告，仅由写入它们的学校持有。"),
        ])
    );
    println!(
        "{}",
        language.pick([
            format!("Every parent holds its children's whole shared logs, each record once; equivocations seen: {equivocations}."),
            format!("Mỗi cấp trên giữ trọn nhật ký chia sẻ của cấp dưới, mỗi bản ghi một lần; số lần ký trùng vị trí phát hiện: {equivocations}."),
            format!("每个上级完整持有下级的共享日志，每条记录一次；发现的重复签署：{equivocations}。"),
        ])
    );
    let directory = &report.directory;
    if report.kept {
        println!(
            "{}",
            language.pick([
                format!("Configs, keys and stores kept in {directory}"),
                format!("Cấu hình, khóa và kho dữ liệu được giữ tại {directory}"),
                format!("配置、密钥和存储保留在 {directory}"),
            ])
        );
    } else {
        println!(
            "{}",
            language.pick([
                format!("The temporary directory {directory} was removed; pass --dir to keep it."),
                format!("Thư mục tạm {directory} đã được xóa; dùng --dir để giữ lại."),
                format!("临时目录 {directory} 已删除；使用 --dir 可保留。"),
            ])
        );
    }
}
