//! The command line's own words. One variant per sentence; values are
//! passed in, never concatenated from fragments, because word order differs
//! between the three languages.

use crate::Language;

/// A sentence the `edusync` command prints for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Before every error on standard error.
    ErrorPrefix,
    NodeAnswered {
        message: String,
    },
    NameTheNode,
    CannotRead {
        what: String,
        error: String,
    },
    CannotWrite {
        path: String,
        error: String,
    },
    /// The transport's own words in `reason` stay English: they are for whoever mends the link.
    CannotReachNode {
        endpoint: String,
        reason: String,
    },
    /// A record file that is not the record's JSON; `detail` is the JSON reader's (English) words.
    NotRecordJson {
        source: String,
        field: String,
        detail: String,
    },
    StandardInput,
    /// Something said already in the user's language, about `file`.
    InFile {
        file: String,
        said: String,
    },
    /// Something said already in the user's language.
    Said {
        text: String,
    },
    // bundles
    BundleWritten {
        path: String,
        entries: u64,
        bytes: u64,
        to: String,
    },
    BundleNothingNew {
        to: String,
    },
    BundleOfAcknowledgement {
        to: String,
        items: u64,
    },
    BundleParts {
        count: u64,
    },
    BundleImported {
        path: String,
        stored: u64,
        already: u64,
        refused: u64,
    },
    BundleAcknowledged {
        path: String,
        seq: u64,
    },
    // record add
    Stored {
        kind: String,
        id: String,
        stream: String,
        seq: u64,
    },
    AlreadyStored {
        id: String,
    },
    // template and import
    TemplateWritten {
        path: String,
        kind: String,
    },
    BadRows {
        file: String,
        bad: usize,
        total: usize,
    },
    RowProblem {
        row: usize,
        column: String,
        value: String,
        reason: String,
    },
    RejectsWritten {
        path: String,
    },
    NothingStoredFixRows {
        rows: usize,
    },
    RowsProgress {
        done: usize,
        total: usize,
    },
    Imported {
        file: String,
        stored: usize,
        already: usize,
        rejected: usize,
    },
    RejectsReasonHeader,
    // status
    NoParent,
    /// What a data officer is not shown of a node's sync.
    SyncNotShownToReaders,
    ParentAt {
        parent: String,
        endpoint: String,
    },
    LastContact,
    Never,
    AcknowledgedLabel,
    OutboxLabel,
    Acknowledged {
        seq: u64,
        head: u64,
    },
    Outbox {
        waiting: u64,
        oldest: String,
    },
    LastError,
    NoneYet,
    Refused,
    RefusedSeq {
        seq: u64,
        reason: String,
    },
    NoChildrenYet,
    ChildrenHeader,
    UpToSeq {
        seq: u64,
    },
    NoticesHeader,
    AheadOfItsLog,
    IdentityAlerts {
        count: usize,
    },
    Equivocations {
        count: usize,
    },
    AlertsHeader {
        school_year: String,
        count: usize,
    },
    AlertsUnavailable {
        reason: String,
    },
    /// `report` is a deadline kind's code: school_year_report, semester_1_report, staff_commitments.
    AlertReportLate {
        org: String,
        report: String,
        due_on: String,
        filed_on: String,
        days_late: i64,
    },
    AlertReportMissing {
        org: String,
        report: String,
        due_on: String,
    },
    AlertNotificationsLate {
        org: String,
        cases: u64,
    },
    AlertInvestigationsOverdue {
        org: String,
        cases: u64,
    },
    AlertRepeatedIncidents {
        org: String,
        period: String,
        cases: u64,
    },
    AlertRepeatedTwoSemesters {
        org: String,
        first: String,
        second: String,
    },
    SecondsAgo {
        count: i64,
    },
    MinutesAgo {
        count: i64,
    },
    HoursAgo {
        count: i64,
    },
    DaysAgo {
        count: i64,
    },
    // the policy in force
    PolicyFor {
        school_year: String,
        from_above: u32,
    },
    PrivacyLabel,
    PrivacySettings {
        crosses: bool,
        per_release: String,
        per_school_year: String,
    },
    DeadlineLabel,
    /// `report` and `from` are already in the language (see the names below).
    Deadline {
        report: String,
        from: String,
        due: String,
        source: String,
    },
    Semester1Report,
    SchoolYearReport,
    StaffCommitments,
    FromTheMinistry,
    FromProvinces,
    FromDistricts,
    FromSchools,
    IncidentsLabel,
    IncidentTimeliness {
        phone_hours: u32,
        written_hours: u32,
        investigation_days: u32,
        source: String,
    },
    // following a sync
    SyncProgress {
        acknowledged: u64,
        head: u64,
        waiting: u64,
    },
    SyncDone {
        head: u64,
    },
    SyncWaitingForParent {
        error: String,
    },
    SyncTimedOut {
        waiting: u64,
        seconds: u64,
    },
    // `edusync sync now`
    SyncRoundDone {
        parent: String,
        round: u64,
    },
    SyncRoundWaiting {
        waiting: u64,
    },
    SyncRoundFailed {
        parent: String,
        error: String,
    },
    // backup and restore
    BackupWritten {
        path: String,
        bytes: usize,
    },
    Restored {
        org: String,
        entries: usize,
        data_dir: String,
    },
    RestoredSignsNothingYet,
    /// Said before a restore: what the backup holds and what it cannot.
    RestoreBackupTaken {
        taken: String,
        days: i64,
    },
    RestoreNeedsYes,
    RestoreBackupTakenUnknown,
    RestoreAskToContinue,
    RestoreNotConfirmed,
}

impl Message {
    pub fn text(&self, language: Language) -> String {
        use Message::*;
        match self {
            ErrorPrefix => language.pick(["error", "lỗi", "错误"]).into(),
            NodeAnswered { message } => {
                language.pick([format!("the node answered: {message}"), format!("nút trả lời: {message}"), format!("节点回复：{message}")])
            }
            NameTheNode => language
                .pick([
                    "name the node with --node URL, --config FILE or EDUSYNC_NODE",
                    "hãy chỉ ra nút bằng --node URL, --config TỆP hoặc EDUSYNC_NODE",
                    "请用 --node URL、--config 文件 或 EDUSYNC_NODE 指定节点",
                ])
                .into(),
            CannotRead { what, error } => language.pick([
                format!("cannot read {what}: {error}"),
                format!("không đọc được {what}: {error}"),
                format!("无法读取 {what}：{error}"),
            ]),
            CannotReachNode { endpoint, reason } => language.pick([
                format!("cannot reach the node at {endpoint} ({reason}); is `edusync node run` running, and is --ca its CA?"),
                format!("không kết nối được với nút tại {endpoint} ({reason}); `edusync node run` có đang chạy không, và --ca có đúng CA của nút không?"),
                format!("无法连接 {endpoint} 上的节点（{reason}）；`edusync node run` 是否在运行，--ca 是否为其 CA？"),
            ]),
            NotRecordJson { source, field, detail } => language.pick([
                format!("{source}: {field}: not the record's JSON ({detail})"),
                format!("{source}: {field}: không đúng JSON của hồ sơ ({detail})"),
                format!("{source}：{field}：不是该记录的 JSON（{detail}）"),
            ]),
            StandardInput => language.pick(["standard input", "đầu vào chuẩn", "标准输入"]).into(),
            InFile { file, said } => format!("{file}: {said}"),
            Said { text } => text.clone(),
            BundleWritten { path, entries, bytes, to } => language.pick([
                format!("wrote {path} ({entries} entries, {bytes} bytes) for {to}"),
                format!("đã ghi {path} ({entries} bản ghi, {bytes} byte) cho {to}"),
                format!("已写入 {path}（{entries} 条记录，{bytes} 字节），交给 {to}"),
            ]),
            BundleNothingNew { to } => language.pick([
                format!("  nothing new: {to} has acknowledged every record of this node's shared log; importing the file there is harmless"),
                format!("  không có gì mới: {to} đã xác nhận mọi bản ghi trong nhật ký chia sẻ của nút này; nhập tệp ở đó cũng không sao"),
                format!("  没有新内容：{to} 已确认本节点共享日志中的所有记录；在那里导入该文件也无妨"),
            ]),
            BundleOfAcknowledgement { to, items } => language.pick([
                format!("  it carries this node's acknowledgement of {to}'s shared log as held here, and {items} items from above (plans, policies, certificates)"),
                format!("  tệp mang xác nhận của nút này về nhật ký chia sẻ của {to} đã giữ ở đây, và {items} mục từ cấp trên (kế hoạch, chính sách, chứng chỉ)"),
                format!("  文件包含本节点对 {to} 共享日志（在此保存的部分）的确认，以及来自上级的 {items} 项（计划、政策、证书）"),
            ]),
            BundleParts { count } => language.pick([
                format!("{count} parts: carry them all; `edusync bundle import` takes them in any order"),
                format!("{count} phần: hãy mang theo tất cả; `edusync bundle import` nhận chúng theo bất kỳ thứ tự nào"),
                format!("共 {count} 个部分：请全部带上；`edusync bundle import` 可按任意顺序导入"),
            ]),
            BundleImported { path, stored, already, refused } => language.pick([
                format!("imported {path}: {stored} stored, {already} already held, {refused} refused"),
                format!("đã nhập {path}: lưu mới {stored}, đã có từ trước {already}, bị từ chối {refused}"),
                format!("已导入 {path}：新保存 {stored} 条，已存在 {already} 条，拒绝 {refused} 条"),
            ]),
            BundleAcknowledged { path, seq } => language.pick([
                format!("imported {path}: the parent acknowledges this node's shared log up to seq {seq}"),
                format!("đã nhập {path}: cấp trên xác nhận nhật ký chia sẻ của nút này đến số thứ tự {seq}"),
                format!("已导入 {path}：上级确认本节点共享日志至序号 {seq}"),
            ]),
            CannotWrite { path, error } => language.pick([
                format!("cannot write {path}: {error}"),
                format!("không ghi được {path}: {error}"),
                format!("无法写入 {path}：{error}"),
            ]),
            Stored { kind, id, stream, seq } => {
                // The log's name as a person reads it; the record kind stays the
                // code the commands take (`record add incident`).
                let log = match (stream.as_str(), language) {
                    ("shared", Language::Vietnamese) => "chia sẻ",
                    ("local", Language::Vietnamese) => "nội bộ",
                    ("shared", Language::Chinese) => "共享",
                    ("local", Language::Chinese) => "本地",
                    (other, _) => other,
                };
                language.pick([
                    format!("stored {kind} {id} ({log} log, seq {seq})"),
                    format!("đã lưu {kind} {id} (nhật ký {log}, số thứ tự {seq})"),
                    format!("已保存 {kind} {id}（{log}日志，序号 {seq}）"),
                ])
            }
            AlreadyStored { id } => language.pick([
                format!("already stored: {id} (nothing new written)"),
                format!("đã có sẵn: {id} (không ghi thêm gì)"),
                format!("已存在：{id}（未写入新内容）"),
            ]),
            TemplateWritten { path, kind } => {
                let name = crate::value_name(kind, language);
                language.pick([
                    format!("wrote {path}: the headers and one example row of a {name}; replace the example with your rows"),
                    format!("đã ghi {path}: tiêu đề cột và một dòng ví dụ của {name}; hãy thay dòng ví dụ bằng dữ liệu của bạn"),
                    format!("已写入 {path}：{name}的列标题和一行示例；请用您的数据替换示例行"),
                ])
            }
            BadRows { file, bad, total } => language.pick([
                format!("{file}: {bad} bad rows of {total}:"),
                format!("{file}: {bad} dòng lỗi trên tổng số {total} dòng:"),
                format!("{file}：共 {total} 行，其中 {bad} 行有错误："),
            ]),
            RowProblem { row, column, value, reason } => language.pick([
                format!("row {row}, column `{column}`, value `{value}`: {reason}"),
                format!("dòng {row}, cột `{column}`, giá trị `{value}`: {reason}"),
                format!("第 {row} 行，列“{column}”，值“{value}”：{reason}"),
            ]),
            RejectsWritten { path } => language.pick([
                format!("the bad rows are in {path}: fix them there and import that file"),
                format!("các dòng lỗi đã được ghi vào {path}: hãy sửa ở đó rồi nhập lại tệp đó"),
                format!("有错误的行已写入 {path}：请在该文件中修改后再导入"),
            ]),
            NothingStoredFixRows { rows } => language.pick([
                format!("nothing was stored; fix the {rows} rows above, or store the good ones with --skip-invalid --rejects FILE"),
                format!("chưa lưu gì; hãy sửa {rows} dòng ở trên, hoặc lưu các dòng đúng bằng --skip-invalid --rejects TỆP"),
                format!("未保存任何内容；请修改上面的 {rows} 行，或使用 --skip-invalid --rejects 文件 保存正确的行"),
            ]),
            RowsProgress { done, total } => {
                language.pick([format!("{done}/{total} rows"), format!("{done}/{total} dòng"), format!("{done}/{total} 行")])
            }
            Imported { file, stored, already, rejected } => language.pick([
                format!("imported {file}: {stored} stored, {already} already held, {rejected} rows rejected"),
                format!("đã nhập {file}: lưu mới {stored}, đã có từ trước {already}, bị từ chối {rejected} dòng"),
                format!("已导入 {file}：新保存 {stored} 条，已存在 {already} 条，拒绝 {rejected} 行"),
            ]),
            RejectsReasonHeader => language.pick(["reason", "lý do", "原因"]).into(),
            NoParent => language
                .pick(["parent: none (top of the hierarchy)", "cấp trên: không có (cấp cao nhất)", "上级：无（最高一级）"])
                .into(),
            SyncNotShownToReaders => language.pick([
                "sync, logs and record counts: not shown to a data officer (they move with single records)",
                "đồng bộ, nhật ký và số hồ sơ: không hiển thị cho người đọc số liệu (chúng thay đổi theo từng hồ sơ)",
                "同步、日志和记录数：不向数据读者显示（它们随单条记录变化）",
            ])
                .into(),
            ParentAt { parent, endpoint } => language.pick([
                format!("parent {parent} at {endpoint}"),
                format!("cấp trên {parent} tại {endpoint}"),
                format!("上级 {parent}，地址 {endpoint}"),
            ]),
            LastContact => language.pick(["last contact", "liên lạc gần nhất", "最近联系"]).into(),
            Never => language.pick(["never", "chưa bao giờ", "从未"]).into(),
            AcknowledgedLabel => language.pick(["acknowledged", "đã xác nhận", "已确认"]).into(),
            OutboxLabel => language.pick(["outbox", "hộp thư đi", "待发送"]).into(),
            Acknowledged { seq, head } => language.pick([
                format!("seq {seq} of {head} in this node's shared log"),
                format!("số thứ tự {seq} trên {head} trong nhật ký chia sẻ của nút này"),
                format!("本节点共享日志 {head} 条中的第 {seq} 条"),
            ]),
            Outbox { waiting, oldest } => language.pick([
                format!("{waiting} records waiting; oldest written {oldest}"),
                format!("{waiting} bản ghi đang chờ gửi; bản cũ nhất được ghi {oldest}"),
                format!("{waiting} 条记录待发送；最早的写于 {oldest}"),
            ]),
            LastError => language.pick(["last error", "lỗi gần nhất", "最近错误"]).into(),
            NoneYet => language.pick(["none", "không có", "无"]).into(),
            Refused => language.pick(["refused", "bị từ chối", "被拒绝"]).into(),
            RefusedSeq { seq, reason } => language.pick([
                format!("seq {seq}: {reason}"),
                format!("số thứ tự {seq}: {reason}"),
                format!("序号 {seq}：{reason}"),
            ]),
            NoChildrenYet => language
                .pick(["children: nothing received yet", "cấp dưới: chưa nhận được gì", "下级：尚未收到任何内容"])
                .into(),
            ChildrenHeader => language
                .pick([
                    "children (what this node holds of each one's shared log):",
                    "cấp dưới (phần nhật ký chia sẻ của từng đơn vị mà nút này đang giữ):",
                    "下级（本节点持有的各下级共享日志）：",
                ])
                .into(),
            UpToSeq { seq } => {
                language.pick([format!("up to seq {seq}"), format!("đến số thứ tự {seq}"), format!("至序号 {seq}")])
            }
            NoticesHeader => language
                .pick([
                    "severe-incident notices from children (newest first):",
                    "thông báo vụ việc nghiêm trọng từ cấp dưới (mới nhất trước):",
                    "下级的严重事件通报（最新的在前）：",
                ])
                .into(),
            AheadOfItsLog => language.pick(["[ahead of its log]", "[đến trước nhật ký]", "[先于其日志到达]"]).into(),
            IdentityAlerts { count } => language.pick([
                format!("SEVERE: {count} certificate(s) let another key sign as this unit:"),
                format!("NGHIÊM TRỌNG: {count} chứng thư cho phép một khóa khác ký thay đơn vị này:"),
                format!("严重：{count} 份证书允许另一把密钥以本单位名义签名："),
            ]),
            Equivocations { count } => language.pick([
                format!("EQUIVOCATIONS: {count} log positions signed twice; see `edusync info`"),
                format!("KÝ TRÙNG: {count} vị trí nhật ký bị ký hai lần; xem `edusync info`"),
                format!("重复签名：{count} 个日志位置被签名两次；请查看 `edusync info`"),
            ]),
            AlertsHeader { school_year, count } => language.pick([
                format!("Alerts about the units below, {school_year} ({count}; `edusync compliance` for the table):"),
                format!("Cảnh báo về các đơn vị cấp dưới, {school_year} ({count}; bảng đầy đủ: `edusync compliance`):"),
                format!("下级单位的提醒，{school_year}（{count} 条；完整表格见 `edusync compliance`）："),
            ]),
            AlertReportLate { org, report, due_on, filed_on, days_late } => {
                let report = report_label(report, language);
                language.pick([
                    format!("{org}: {report} filed {filed_on}, {days_late} day(s) after {due_on}"),
                    format!("{org}: {report} nộp ngày {filed_on}, muộn {days_late} ngày so với hạn {due_on}"),
                    format!("{org}：{report}于 {filed_on} 提交，比截止日期 {due_on} 晚 {days_late} 天"),
                ])
            }
            AlertReportMissing { org, report, due_on } => {
                let report = report_label(report, language);
                language.pick([
                    format!("{org}: {report} missing (due {due_on})"),
                    format!("{org}: chưa nộp {report} (hạn {due_on})"),
                    format!("{org}：未提交{report}（截止 {due_on}）"),
                ])
            }
            AlertNotificationsLate { org, cases } => language.pick([
                format!("{org}: {cases} incident case(s) not reported upward within 12 hours of detection"),
                format!("{org}: {cases} vụ việc chưa được báo cáo lên cấp trên trong vòng 12 giờ kể từ khi phát hiện"),
                format!("{org}：{cases} 起事件未在发现后 12 小时内上报"),
            ]),
            AlertInvestigationsOverdue { org, cases } => language.pick([
                format!("{org}: {cases} investigation(s) concluded late or open past the deadline"),
                format!("{org}: {cases} vụ việc xác minh, kết luận quá hạn"),
                format!("{org}：{cases} 起调查逾期结案或超期未结"),
            ]),
            AlertRepeatedIncidents { org, period, cases } => language.pick([
                format!("{org}: {cases} incident cases in {period} (two or more in a semester)"),
                format!("{org}: {cases} vụ việc trong {period} (từ hai vụ trở lên trong một học kỳ)"),
                format!("{org}：{period} 发生 {cases} 起事件（一学期两起及以上）"),
            ]),
            AlertRepeatedTwoSemesters { org, first, second } => language.pick([
                format!("{org}: two or more incidents in {first} and again in {second}"),
                format!("{org}: từ hai vụ việc trở lên trong {first} và lặp lại trong {second}"),
                format!("{org}：{first} 与 {second} 连续两个学期各发生两起及以上事件"),
            ]),
            AlertsUnavailable { reason } => language.pick([
                format!("Alerts: unavailable ({reason})"),
                format!("Cảnh báo: không lấy được ({reason})"),
                format!("提醒：无法获取（{reason}）"),
            ]),
            SecondsAgo { count } => {
                language.pick([format!("{count} s ago"), format!("{count} giây trước"), format!("{count} 秒前")])
            }
            MinutesAgo { count } => {
                language.pick([format!("{count} min ago"), format!("{count} phút trước"), format!("{count} 分钟前")])
            }
            HoursAgo { count } => {
                language.pick([format!("{count} h ago"), format!("{count} giờ trước"), format!("{count} 小时前")])
            }
            DaysAgo { count } => {
                language.pick([format!("{count} days ago"), format!("{count} ngày trước"), format!("{count} 天前")])
            }
            PolicyFor { school_year, from_above } => language.pick([
                format!("policy for {school_year} ({from_above} from the offices above)"),
                format!("quy định áp dụng cho năm học {school_year} ({from_above} văn bản từ cấp trên)"),
                format!("{school_year} 学年适用的规定（来自上级的 {from_above} 份）"),
            ]),
            PrivacyLabel => language.pick(["privacy", "bảo mật", "隐私"]).into(),
            PrivacySettings { crosses, per_release, per_school_year } => {
                let crosses_en = if *crosses { "on" } else { "off" };
                let crosses_vi = if *crosses { "bật" } else { "tắt" };
                let crosses_zh = if *crosses { "开" } else { "关" };
                language.pick([
                    format!("demographic crosses {crosses_en}; epsilon {per_release} per release, {per_school_year} per school year"),
                    format!("bảng chéo nhân khẩu học {crosses_vi}; epsilon {per_release} mỗi lần công bố, {per_school_year} mỗi năm học"),
                    format!("人口交叉表{crosses_zh}；每次发布 epsilon {per_release}，每学年 {per_school_year}"),
                ])
            }
            DeadlineLabel => language.pick(["deadline", "hạn nộp", "截止日期"]).into(),
            Deadline { report, from, due, source } => language.pick([
                format!("{report} from {from}: {due} ({source})"),
                format!("{report} của {from}: {due} ({source})"),
                format!("{from}的{report}：{due}（{source}）"),
            ]),
            Semester1Report => language.pick(["semester 1 report", "báo cáo học kỳ I", "第一学期报告"]).into(),
            SchoolYearReport => language.pick(["school-year report", "báo cáo năm học", "学年报告"]).into(),
            StaffCommitments => {
                language.pick(["staff commitments", "bản cam kết của cán bộ, giáo viên, nhân viên", "教职工承诺书"]).into()
            }
            FromTheMinistry => language.pick(["the ministry", "Bộ", "教育部"]).into(),
            FromProvinces => language.pick(["provinces", "các Sở", "各省"]).into(),
            FromDistricts => language.pick(["districts", "các Phòng", "各区县"]).into(),
            FromSchools => language.pick(["schools", "các trường", "各学校"]).into(),
            IncidentsLabel => language.pick(["incidents", "vụ việc", "事件"]).into(),
            IncidentTimeliness { phone_hours, written_hours, investigation_days, source } => language.pick([
                format!("by phone within {phone_hours} h, in writing within {written_hours} h, investigated within {investigation_days} days ({source})"),
                format!("báo qua điện thoại trong {phone_hours} giờ, bằng văn bản trong {written_hours} giờ, xác minh xong trong {investigation_days} ngày ({source})"),
                format!("{phone_hours} 小时内电话报告，{written_hours} 小时内书面报告，{investigation_days} 天内调查完毕（{source}）"),
            ]),
            SyncProgress { acknowledged, head, waiting } => language.pick([
                format!("{acknowledged}/{head} acknowledged by the parent, {waiting} waiting"),
                format!("cấp trên đã xác nhận {acknowledged}/{head}, còn {waiting} đang chờ"),
                format!("上级已确认 {acknowledged}/{head}，还有 {waiting} 条等待"),
            ]),
            SyncDone { head } => language.pick([
                format!("in sync: the parent holds all {head} records of this node's shared log"),
                format!("đã đồng bộ: cấp trên đã giữ đủ {head} bản ghi trong nhật ký chia sẻ của nút này"),
                format!("已同步：上级已持有本节点共享日志的全部 {head} 条记录"),
            ]),
            SyncRoundDone { parent, round } => language.pick([
                format!("synced with {parent} (round {round}): pushed up, and pulled from above what it had"),
                format!("đã đồng bộ với {parent} (lượt {round}): đã gửi lên, và đã nhận từ cấp trên những gì cấp trên có"),
                format!("已与 {parent} 同步（第 {round} 轮）：已上传，并已从上级取回其所有内容"),
            ]),
            SyncRoundWaiting { waiting } => language.pick([
                format!("{waiting} records still wait for the parent's acknowledgement; `edusync status --follow` watches them go"),
                format!("còn {waiting} bản ghi chờ cấp trên xác nhận; `edusync status --follow` theo dõi đến khi xong"),
                format!("还有 {waiting} 条记录等待上级确认；`edusync status --follow` 可跟踪到完成"),
            ]),
            SyncRoundFailed { parent, error } => language.pick([
                format!("the round with {parent} failed: {error}; the node keeps trying on its own"),
                format!("lượt đồng bộ với {parent} không thành công: {error}; nút sẽ tự tiếp tục thử"),
                format!("与 {parent} 的同步失败：{error}；节点会自行继续重试"),
            ]),
            SyncWaitingForParent { error } => language.pick([
                format!("waiting for the parent: {error}"),
                format!("đang chờ cấp trên: {error}"),
                format!("正在等待上级：{error}"),
            ]),
            SyncTimedOut { waiting, seconds } => language.pick([
                format!("{waiting} records still waiting after {seconds} s; the node keeps trying on its own"),
                format!("sau {seconds} giây vẫn còn {waiting} bản ghi đang chờ; nút sẽ tự tiếp tục thử"),
                format!("{seconds} 秒后仍有 {waiting} 条记录等待；节点会自行继续重试"),
            ]),
            BackupWritten { path, bytes } => language.pick([
                format!("wrote {path} ({bytes} bytes): the store and the node key; keep it as safe as the key"),
                format!("đã ghi {path} ({bytes} byte): dữ liệu và khóa của nút; hãy bảo quản cẩn thận như chính khóa ký"),
                format!("已写入 {path}（{bytes} 字节）：存储数据和节点密钥；请像保管密钥一样妥善保管"),
            ]),
            Restored { org, entries, data_dir } => language.pick([
                format!("restored {org} ({entries} store entries) into {data_dir}"),
                format!("đã khôi phục {org} ({entries} mục dữ liệu) vào {data_dir}"),
                format!("已将 {org}（{entries} 个存储条目）恢复到 {data_dir}"),
            ]),
            RestoreBackupTaken { taken, days } => language.pick([
                format!("this backup was taken {taken} ({days} days ago): records written here after that and never sent up (incidents, risk registers and periodic reports stay at the school) are not in it, and this restore cannot bring them back; records sent up are taken back from the parent. Keep the old data directory if it still opens."),
                format!("bản sao lưu này được tạo {taken} ({days} ngày trước): các bản ghi viết tại đây sau thời điểm đó và chưa gửi lên cấp trên (vụ việc, sổ theo dõi học sinh có nguy cơ và báo cáo định kỳ chỉ lưu tại trường) không có trong bản sao lưu, và lần khôi phục này không lấy lại được; các bản ghi đã gửi lên sẽ được lấy lại từ cấp trên. Hãy giữ thư mục dữ liệu cũ nếu nó còn mở được."),
                format!("此备份创建于 {taken}（{days} 天前）：之后在本节点写入且未上报的记录（事件、风险登记和定期报告只保存在学校）不在备份中，本次恢复无法找回；已上报的记录会从上级取回。如旧数据目录仍可打开，请保留。"),
            ]),
            RestoreNeedsYes => language.pick([
                "not restored: no one is at a terminal to answer; read the above and run again with --yes to restore",
                "chưa khôi phục: không có ai trả lời tại cửa sổ lệnh; hãy đọc thông báo trên rồi chạy lại với --yes để khôi phục",
                "未恢复：没有人在终端回答；请阅读以上内容，然后加 --yes 重新运行以恢复",
            ])
            .into(),
            RestoreBackupTakenUnknown => language
                .pick([
                    "this backup does not say when it was taken (an older edusync wrote it): records written here after it and never sent up are not in it, and this restore cannot bring them back.",
                    "bản sao lưu này không ghi thời điểm tạo (do phiên bản edusync cũ ghi): các bản ghi viết tại đây sau đó và chưa gửi lên không có trong bản sao lưu, và lần khôi phục này không lấy lại được.",
                    "此备份未记录创建时间（由旧版 edusync 写入）：之后在本节点写入且未上报的记录不在备份中，本次恢复无法找回。",
                ])
                .into(),
            RestoreAskToContinue => {
                language.pick(["restore from this backup? [y/N] ", "khôi phục từ bản sao lưu này? [c/K] ", "从此备份恢复？[y/N] "]).into()
            }
            RestoreNotConfirmed => language
                .pick([
                    "nothing restored (answer y, or pass --yes, to restore)",
                    "chưa khôi phục gì (trả lời c, hoặc thêm --yes, để khôi phục)",
                    "未恢复任何内容（回答 y 或加上 --yes 以恢复）",
                ])
                .into(),
            RestoredSignsNothingYet => language
                .pick([
                    "it signs nothing until it has learned from its parent how much of its log the parent holds; start it with its parent reachable",
                    "nút sẽ không ký gì cho đến khi biết cấp trên đã giữ bao nhiêu bản ghi trong nhật ký của mình; hãy khởi động nút khi kết nối được với cấp trên",
                    "在得知上级已持有其日志中多少记录之前，节点不会签署任何内容；请在能连接上级时启动节点",
                ])
                .into(),
        }
    }
}

fn report_label(code: &str, language: Language) -> String {
    match code {
        "school_year_report" => language.pick(["school-year report", "báo cáo năm học", "学年报告"]).into(),
        "semester_1_report" => language.pick(["semester 1 report", "báo cáo học kỳ I", "第一学期报告"]).into(),
        "staff_commitments" => language.pick(["staff commitments", "bản cam kết của cán bộ", "教职工承诺书"]).into(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_row_reads_correctly_in_each_language() {
        let message =
            Message::RowProblem {
                row: 4, column: "Ngày ký".into(), value: "2031-13-01".into(), reason: "…".into()
            };
        assert_eq!(message.text(Language::English), "row 4, column `Ngày ký`, value `2031-13-01`: …");
        assert_eq!(message.text(Language::Vietnamese), "dòng 4, cột `Ngày ký`, giá trị `2031-13-01`: …");
        assert_eq!(message.text(Language::Chinese), "第 4 行，列“Ngày ký”，值“2031-13-01”：…");
    }
}
