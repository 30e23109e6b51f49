//! `edusync info`.

use edusync_i18n::{value_name, Language};
use edusync_proto::wire;

use super::NodeTarget;
use crate::failure::Failure;
use crate::output::json;

pub(crate) async fn run(target: &NodeTarget, as_json: bool, language: Language) -> Result<(), Failure> {
    let mut client = target.connect().await?;
    let info = client.get_node_info(wire::GetNodeInfoRequest {}).await.map_err(Failure::from_status)?.into_inner();
    let kinds: Vec<(String, u64)> = info
        .kinds
        .iter()
        .map(|count| {
            let kind =
                edusync_proto::kind_from_wire("kind", count.kind).ok().flatten().map_or("?", |kind| kind.as_str());
            (kind.to_owned(), count.count)
        })
        .collect();
    let logs: Vec<serde_json::Value> = info
        .logs
        .iter()
        .map(|log| {
            serde_json::json!({
                "author_org": log.author_org,
                "stream": if log.stream == wire::LogStream::Local as i32 { "local" } else { "shared" },
                "highest_contiguous_seq": log.highest_contiguous_seq,
            })
        })
        .collect();
    let parent = info.parent.as_ref().map(|parent| {
        serde_json::json!({
            "parent_org": parent.parent_org,
            "endpoint": parent.endpoint,
            "last_contact": parent.last_contact.map(|t| chrono::DateTime::from_timestamp(t.seconds, 0).map(|t| t.to_rfc3339())),
            "acknowledged_seq": parent.acknowledged_seq,
            "last_error": (!parent.last_error.is_empty()).then_some(&parent.last_error),
            "refused": parent.refused.iter().map(|r| serde_json::json!({"seq": r.seq, "reason": r.reason})).collect::<Vec<_>>(),
        })
    });
    let document = serde_json::json!({
        "org_id": info.org_id,
        "level": info.level,
        "display_name": info.display_name,
        "total_records": info.total_records,
        "kinds": kinds.iter().map(|(kind, count)| (kind.clone(), *count)).collect::<std::collections::BTreeMap<_, _>>(),
        "logs": logs,
        "equivocations": info.equivocations.len(),
        "parent": parent,
    });
    if as_json {
        println!("{}", json(&document));
        return Ok(());
    }
    let level = value_name(&info.level, language);
    println!("{} ({level}) {}", info.org_id, info.display_name);
    let total = info.total_records;
    println!(
        "{}",
        language.pick([format!("records: {total}"), format!("số bản ghi: {total}"), format!("记录数：{total}")])
    );
    for (kind, count) in &kinds {
        println!("  {} {count}", crate::output::pad(&value_name(kind, language), 32));
    }
    println!("{}", language.pick(["logs:", "nhật ký:", "日志："]));
    for log in &logs {
        let field = |name: &str| log[name].as_str().unwrap_or("?").to_owned();
        let (author, seq) = (field("author_org"), &log["highest_contiguous_seq"]);
        let local = field("stream") == "local";
        println!(
            "  {}",
            match (local, language) {
                (true, Language::Vietnamese) => format!("{author} nhật ký nội bộ đến số thứ tự {seq}"),
                (false, Language::Vietnamese) => format!("{author} nhật ký chia sẻ đến số thứ tự {seq}"),
                (true, Language::Chinese) => format!("{author} 本地日志至序号 {seq}"),
                (false, Language::Chinese) => format!("{author} 共享日志至序号 {seq}"),
                (true, Language::English) => format!("{author} local log up to seq {seq}"),
                (false, Language::English) => format!("{author} shared log up to seq {seq}"),
            }
        );
    }
    let equivocations = info.equivocations.len();
    if equivocations > 0 {
        println!(
            "{}",
            language.pick([
                format!("EQUIVOCATIONS: {equivocations} positions where an author signed two different records"),
                format!("KÝ TRÙNG VỊ TRÍ: {equivocations} vị trí mà một đơn vị đã ký hai bản ghi khác nhau"),
                format!("重复签署：{equivocations} 个位置上同一作者签署了两条不同的记录"),
            ])
        );
    }
    if let Some(parent) = &info.parent {
        let (org, endpoint, seq) = (&parent.parent_org, &parent.endpoint, parent.acknowledged_seq);
        println!(
            "{}",
            language.pick([
                format!("parent {org} at {endpoint}: acknowledged up to seq {seq}"),
                format!("cấp trên {org} tại {endpoint}: đã xác nhận đến số thứ tự {seq}"),
                format!("上级 {org}（{endpoint}）：已确认至序号 {seq}"),
            ])
        );
        if !parent.last_error.is_empty() {
            let error = &parent.last_error;
            println!(
                "  {}",
                language.pick([
                    format!("last error: {error}"),
                    format!("lỗi gần nhất: {error}"),
                    format!("最近的错误：{error}")
                ])
            );
        }
        for refusal in &parent.refused {
            let (seq, reason) = (refusal.seq, &refusal.reason);
            println!(
                "  {}",
                language.pick([
                    format!("refused seq {seq}: {reason}"),
                    format!("bị từ chối số thứ tự {seq}: {reason}"),
                    format!("被拒绝的序号 {seq}：{reason}"),
                ])
            );
        }
    }
    Ok(())
}
