//! Records put on file through forms: plans, periodic reports,
//! commitments, risk registers and policies (incidents have their own page).

use chrono::Datelike;
use edusync_core::{AtRiskGroup, DeadlineKind, Level, RecordKind};

use super::form::{self, Field, FormProblem, FormView, Input};
use super::*;

/// The kinds put on file through a form of their own (incidents have theirs).
pub(super) const FORM_KINDS: [RecordKind; 5] = [
    RecordKind::Plan,
    RecordKind::PeriodicReport,
    RecordKind::Commitment,
    RecordKind::RiskRegister,
    RecordKind::Policy,
];

/// The kind's name as a person reads it.
pub(super) fn kind_name(kind: RecordKind, language: Language) -> &'static str {
    match kind {
        RecordKind::Plan => language.pick(["plan", "kế hoạch", "计划"]),
        RecordKind::Incident => language.pick(["incident", "vụ việc", "事件"]),
        RecordKind::PeriodicReport => language.pick(["periodic report", "báo cáo định kỳ", "定期报告"]),
        RecordKind::Commitment => language.pick(["commitments", "cam kết", "承诺"]),
        RecordKind::RiskRegister => language.pick(["risk register", "sổ theo dõi học sinh có nguy cơ", "风险登记"]),
        RecordKind::Aggregate => language.pick(["aggregate", "tổng hợp", "汇总"]),
        RecordKind::SevereNotice => {
            language.pick(["severe-incident notice", "thông báo vụ việc nghiêm trọng", "严重事件通知"])
        }
        RecordKind::Policy => language.pick(["policy", "văn bản chỉ đạo", "政策"]),
    }
}

fn choices<T: Copy>(all: &[T], code: fn(T) -> &'static str, language: Language) -> Input {
    Input::Choice(all.iter().map(|value| (code(*value), edusync_i18n::value_name(code(*value), language))).collect())
}

/// Rows offered for a repeated part (activities, students): enough for a
/// school's plan or register at one sitting; more go in a second record.
const ROWS: usize = 6;

/// What identifies an issued document (a plan, a policy): its number, date and issuer.
fn issued_document(language: Language) -> [Field; 3] {
    let say = |words: [&str; 3]| language.pick(words).to_owned();
    [
        Field::new("number", say(["Document number", "Số văn bản", "文号"]), Input::Text),
        Field::new("issued_on", say(["Issued on", "Ngày ban hành", "发布日期"]), Input::Date),
        Field::new(
            "issuing_org",
            say(["Issued by (unit id)", "Đơn vị ban hành (mã)", "发布单位（代码）"]),
            Input::Text,
        ),
    ]
}

/// The fields of a kind's form, in the order a person fills them.
fn fields_of(kind: RecordKind, language: Language) -> Vec<Field> {
    let say = |words: [&str; 3]| language.pick(words).to_owned();
    let mut fields = Vec::new();
    match kind {
        RecordKind::Commitment | RecordKind::PeriodicReport => {
            // The spreadsheet's columns, with the headers a school knows from the template.
            for column in edusync_sheet::columns(kind).unwrap_or_default() {
                let label = language.pick(column.headers).to_owned();
                let input = match column.kind {
                    edusync_sheet::ValueKind::Count => Input::Count,
                    edusync_sheet::ValueKind::Date => Input::Date,
                    edusync_sheet::ValueKind::SchoolYear | edusync_sheet::ValueKind::Period => Input::Text,
                    edusync_sheet::ValueKind::YesNo => Input::Check,
                    edusync_sheet::ValueKind::Choice(options) => Input::Choice(
                        options.iter().map(|(value, labels)| (*value, language.pick(*labels).to_owned())).collect(),
                    ),
                };
                fields.push(Field::new(column.field, label, input));
            }
            if kind == RecordKind::PeriodicReport {
                fields.push(Field::new(
                    "channels_set_up",
                    say(["Channels for reporting set up", "Kênh tiếp nhận đã thiết lập", "已设立的报告渠道"]),
                    Input::Checks(
                        IntakeChannel::ALL
                            .iter()
                            .map(|channel| (channel.as_str(), edusync_i18n::value_name(channel.as_str(), language)))
                            .collect(),
                    ),
                ));
                fields.push(Field::new("remarks", say(["Remarks", "Ghi chú", "备注"]), Input::LongText).optional());
            }
        }
        RecordKind::Plan => {
            fields.extend(issued_document(language));
            fields.push(Field::new("title", say(["Title", "Tiêu đề", "标题"]), Input::Text));
            fields.push(Field::new("school_year", Label::SchoolYear.text(language), Input::Text));
            fields.push(
                Field::new(
                    "implements_plan",
                    say(["Implements the plan numbered", "Thực hiện kế hoạch số", "落实的上级计划文号"]),
                    Input::Text,
                )
                .optional(),
            );
            fields.push(
                Field::new(
                    "goals",
                    say(["Goals, one per line", "Mục tiêu, mỗi dòng một mục", "目标（每行一条）"]),
                    Input::Lines,
                )
                .optional(),
            );
            for row in 0..ROWS {
                let at = |name: &str| format!("activities[{row}].{name}");
                let number = row + 1;
                fields.push(
                    Field::new(
                        at("item"),
                        format!(
                            "{} {number}: {}",
                            say(["Activity", "Hoạt động", "活动"]),
                            say(["item", "mục", "序号"])
                        ),
                        Input::Count,
                    )
                    .optional(),
                );
                fields.push(Field::new(at("content"), say(["Content", "Nội dung", "内容"]), Input::Text).optional());
                fields.push(
                    Field::new(at("lead_unit"), say(["Lead unit", "Đơn vị chủ trì", "牵头单位"]), Input::Text)
                        .optional(),
                );
                fields.push(
                    Field::new(
                        at("coordinating_units"),
                        say([
                            "Coordinating units, separated by commas",
                            "Đơn vị phối hợp, cách nhau bởi dấu phẩy",
                            "配合单位（逗号分隔）",
                        ]),
                        Input::Commas,
                    )
                    .optional(),
                );
                fields.push(
                    Field::new(at("time_frame"), say(["Time frame", "Thời gian thực hiện", "时间安排"]), Input::Text)
                        .optional(),
                );
            }
            fields.push(
                Field::new(
                    "recipients",
                    say(["Recipients, one per line", "Nơi nhận, mỗi dòng một nơi", "发送对象（每行一个）"]),
                    Input::Lines,
                )
                .optional(),
            );
        }
        RecordKind::RiskRegister => {
            fields.push(Field::new("period", Label::Period.text(language), Input::Text));
            fields.push(Field::new("screened_on", say(["Screened on", "Ngày rà soát", "筛查日期"]), Input::Date));
            for (index, group) in AtRiskGroup::ALL.iter().enumerate() {
                fields.push(Field::new(
                    format!("counts[{index}].group"),
                    String::new(),
                    Input::Choice(vec![(group.as_str(), String::new())]),
                ));
                fields.push(Field::new(
                    format!("counts[{index}].count"),
                    format!(
                        "{}: {}",
                        say(["Students", "Số học sinh", "学生人数"]),
                        edusync_i18n::value_name(group.as_str(), language)
                    ),
                    Input::Count,
                ));
            }
            for row in 0..ROWS {
                let at = |name: &str| format!("students[{row}].{name}");
                fields.push(
                    Field::new(
                        at("name"),
                        format!(
                            "{} {}: {}",
                            say(["Student", "Học sinh", "学生"]),
                            row + 1,
                            Label::PersonName.text(language)
                        ),
                        Input::Text,
                    )
                    .optional(),
                );
                fields.push(
                    Field::new(at("student_number"), say(["Student number", "Mã học sinh", "学号"]), Input::Text)
                        .optional(),
                );
                fields.push(
                    Field::new(
                        at("group"),
                        say(["Group", "Nhóm", "类别"]),
                        choices(AtRiskGroup::ALL, AtRiskGroup::as_str, language),
                    )
                    .optional(),
                );
                fields.push(Field::new(at("grade"), Label::PersonGrade.text(language), Input::Count).optional());
            }
        }
        RecordKind::Policy => {
            fields.extend(issued_document(language));
            fields.push(Field::new("school_year", Label::SchoolYear.text(language), Input::Text));
            for row in 0..3 {
                let at = |name: &str| format!("deadlines[{row}].{name}");
                fields.push(
                    Field::new(
                        at("report"),
                        format!("{} {}", say(["Deadline", "Thời hạn", "截止"]), row + 1),
                        choices(
                            &[
                                DeadlineKind::Semester1Report,
                                DeadlineKind::SchoolYearReport,
                                DeadlineKind::StaffCommitments,
                            ],
                            DeadlineKind::as_str,
                            language,
                        ),
                    )
                    .optional(),
                );
                fields.push(
                    Field::new(
                        at("level"),
                        say(["Filed by", "Cấp nộp", "报送层级"]),
                        choices(&[Level::School, Level::District, Level::Province], Level::as_str, language),
                    )
                    .optional(),
                );
                fields.push(Field::new(at("due_on"), say(["Due on", "Hạn nộp", "截止日期"]), Input::Date).optional());
            }
            fields.push(
                Field::new(
                    "incident_timeliness.phone_within_hours",
                    say([
                        "Report by phone within (hours)",
                        "Báo cáo qua điện thoại trong (giờ)",
                        "电话报告时限（小时）",
                    ]),
                    Input::Count,
                )
                .optional(),
            );
            fields.push(
                Field::new(
                    "incident_timeliness.written_within_hours",
                    say([
                        "Report in writing within (hours)",
                        "Báo cáo bằng văn bản trong (giờ)",
                        "书面报告时限（小时）",
                    ]),
                    Input::Count,
                )
                .optional(),
            );
            fields.push(
                Field::new(
                    "incident_timeliness.investigation_within_days",
                    say([
                        "Conclude the investigation within (days)",
                        "Kết luận xác minh trong (ngày)",
                        "调查结案时限（天）",
                    ]),
                    Input::Count,
                )
                .optional(),
            );
        }
        RecordKind::Incident | RecordKind::Aggregate | RecordKind::SevereNotice => {}
    }
    fields
}

/// What a fresh form holds: this node's org, today, this school year.
fn defaults_of(kind: RecordKind, org: &str, offset: chrono::FixedOffset) -> HashMap<String, String> {
    let today = chrono::Utc::now().with_timezone(&offset).date_naive();
    let year = current_school_year(offset);
    let semester = match today.month() {
        2..=7 => format!("{year}/S2"),
        _ => format!("{year}/S1"),
    };
    let mut values = HashMap::new();
    let mut put = |name: &str, value: String| {
        values.insert(name.to_owned(), value);
    };
    match kind {
        RecordKind::Plan | RecordKind::Policy => {
            put("issued_on", today.to_string());
            put("issuing_org", org.to_owned());
            put("school_year", year);
        }
        RecordKind::Commitment => {
            put("signed_on", today.to_string());
            put("school_year", year);
        }
        RecordKind::PeriodicReport => {
            put("submitted_on", today.to_string());
            put("period", semester);
        }
        RecordKind::RiskRegister => {
            put("screened_on", today.to_string());
            put("period", semester);
            for index in 0..AtRiskGroup::ALL.len() {
                put(&format!("counts[{index}].count"), "0".to_owned());
            }
        }
        _ => {}
    }
    values
}

/// The record a form's JSON describes.
fn record_of(kind: RecordKind, value: serde_json::Value) -> Result<Record, ValidationError> {
    Ok(match kind {
        RecordKind::Plan => Record::Plan(form::decode(value)?),
        RecordKind::PeriodicReport => Record::PeriodicReport(form::decode(value)?),
        RecordKind::Commitment => Record::Commitment(form::decode(value)?),
        RecordKind::RiskRegister => Record::RiskRegister(form::decode(value)?),
        RecordKind::Policy => Record::Policy(form::decode(value)?),
        other => return Err(ValidationError::new("kind", Reason::malformed(format!("{other} has no form here")))),
    })
}

fn record_form(
    viewer: &Viewer,
    kind: RecordKind,
    values: &HashMap<String, String>,
    problem: Option<&FormProblem>,
) -> Markup {
    let language = viewer.language;
    let fields = fields_of(kind, language);
    let view = FormView { language, values, problem };
    // Fields sent hidden show no problem: theirs goes at the top.
    let names: Vec<&str> = fields
        .iter()
        .filter(|field| !(matches!(field.input, Input::Choice(_)) && field.label.is_empty()))
        .map(|field| field.path.as_str())
        .collect();
    html! {
        h1 { (Label::NewRecord.text(language)) ": " (kind_name(kind, language)) }
        @if problem.is_some() {
            p.problem role="alert" {
                (Label::NothingStored.text(language))
                @if let Some(unplaced) = view.unplaced(&names) { " " (unplaced) }
            }
        }
        // Checked here, so every refusal reads in the page's language, not the browser's.
        form method="post" action=(format!("/records/new/{kind}")) novalidate {
            input type="hidden" name="csrf" value=(viewer.session.csrf);
            @for field in &fields {
                @match &field.input {
                    // A register's group is fixed by its row: sent, not chosen.
                    Input::Choice(options) if field.label.is_empty() => {
                        @if let Some((value, _)) = options.first() { input type="hidden" name=(field.path) value=(value); }
                    }
                    _ => (view.field(field)),
                }
            }
            button type="submit" { (Label::Save.text(language)) }
        }
    }
}

fn form_kind(text: &str) -> Option<RecordKind> {
    text.parse::<RecordKind>().ok().filter(|kind| FORM_KINDS.contains(kind))
}

pub(super) async fn new_record(
    State(app): Shared,
    viewer: Viewer,
    axum::extract::Path(kind): axum::extract::Path<String>,
) -> Response {
    let Some(kind) = form_kind(&kind) else {
        return problem_page(&app, &viewer, StatusCode::NOT_FOUND, &format!("kind: no form for `{kind}`"));
    };
    if let Some(refused) = operator_only(&app, &viewer).await {
        return refused;
    }
    // The org is known once the node has answered; ask it if no page has yet.
    if app.org.lock().map(|org| org.is_empty()).unwrap_or(true) {
        if let Ok((mut client, _)) = app.node().await {
            if let Ok(info) = client.get_node_info(wire::GetNodeInfoRequest {}).await {
                if let Ok(mut org) = app.org.lock() {
                    org.clone_from(&info.into_inner().org_id);
                }
            }
        }
    }
    let org = app.org.lock().map(|org| org.clone()).unwrap_or_default();
    let body = record_form(&viewer, kind, &defaults_of(kind, &org, app.utc_offset), None);
    signed_in_page(&app, &viewer, kind_name(kind, viewer.language), body).await
}

pub(super) async fn submit_record(
    State(app): Shared,
    viewer: Viewer,
    axum::extract::Path(kind): axum::extract::Path<String>,
    Form(typed): Form<HashMap<String, String>>,
) -> Response {
    let language = viewer.language;
    let Some(kind) = form_kind(&kind) else {
        return problem_page(&app, &viewer, StatusCode::NOT_FOUND, &format!("kind: no form for `{kind}`"));
    };
    if !Sessions::csrf_matches(&viewer.session, typed.get("csrf").map(String::as_str).unwrap_or_default()) {
        tracing::warn!(session = %&viewer.id[..8], "a form without this session's CSRF token was refused");
        let message = format!("{} {}", Label::NothingStored.text(language), Label::CsrfRefused.text(language));
        return problem_page(&app, &viewer, StatusCode::FORBIDDEN, &message);
    }
    let (app, viewer, typed) = (&app, &viewer, &typed);
    let refuse = move |problem: FormProblem| async move {
        let body = record_form(viewer, kind, typed, Some(&problem));
        let page = signed_in_page(app, viewer, kind_name(kind, language), body).await;
        (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
    };
    let fields = fields_of(kind, language);
    let (value, renames) = match form::read(&fields, typed) {
        Ok(read) => read,
        Err(error) => return refuse(FormProblem::of(&error, language)).await,
    };
    let record = match record_of(kind, value) {
        Ok(record) => record,
        Err(error) => {
            let mut problem = FormProblem::of(&error, language);
            problem.field = Some(form::form_place(&error.field, &renames));
            return refuse(problem).await;
        }
    };
    match submit(app, &record, language).await {
        Ok(stored) => stored,
        Err(mut problem) => {
            problem.field = problem.field.map(|field| form::form_place(&field, &renames));
            refuse(problem).await
        }
    }
}
