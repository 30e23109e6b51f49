//! `edusync init`: data directory and key.

use std::path::Path;

use edusync_config::NodeConfig;

use crate::failure::Failure;

pub(crate) fn run(config_path: &Path, language: edusync_i18n::Language) -> Result<(), Failure> {
    let config = NodeConfig::load(config_path)?;
    let public = edusync_node::init_key(&config.data_dir).map_err(|error| Failure::input(error.to_string()))?;
    let (org, name) = (&config.organisation.id, &config.organisation.display_name);
    let (private, public_path) =
        (config.key_path().display().to_string(), config.public_key_path().display().to_string());
    let base64 = public.to_base64();
    let config_shown = config_path.display();
    println!(
        "{}",
        language.pick([
            format!("created the signing key of {org} ({name})\n  private key: {private} (mode 0600; never copy it off this machine)\n  public key:  {public_path}\n  public key (base64): {base64}\n"),
            format!("đã tạo khóa ký của {org} ({name})\n  khóa bí mật: {private} (quyền 0600; không bao giờ sao chép ra khỏi máy này)\n  khóa công khai: {public_path}\n  khóa công khai (base64): {base64}\n"),
            format!("已创建 {org}（{name}）的签名密钥\n  私钥：{private}（权限 0600；切勿复制出本机）\n  公钥：{public_path}\n  公钥（base64）：{base64}\n"),
        ])
    );
    match &config.parent {
        Some(parent) => {
            let parent = &parent.org_id;
            println!(
                "{}",
                language.pick([
                    format!("Next, enrol with {parent}: start the node and an operator there approves it (`edusync enroll approve`),\nor carry `edusync enroll request --config {config_shown}` to {parent} and install the answer with `edusync enroll install`."),
                    format!("Tiếp theo, đăng ký với {parent}: chạy nút và người vận hành ở đó duyệt (`edusync enroll approve`),\nhoặc mang `edusync enroll request --config {config_shown}` đến {parent} rồi cài câu trả lời bằng `edusync enroll install`."),
                    format!("下一步，向 {parent} 注册：启动节点，由那里的操作员批准（`edusync enroll approve`），\n或将 `edusync enroll request --config {config_shown}` 带到 {parent}，再用 `edusync enroll install` 安装答复。"),
                ])
            );
        }
        None => println!(
            "{}",
            language.pick([
                format!("Next, certify this node with the root keys: `edusync enroll request --config {config_shown}`, then `edusync keys certify`."),
                format!("Tiếp theo, chứng nhận nút này bằng các khóa gốc: `edusync enroll request --config {config_shown}`, rồi `edusync keys certify`."),
                format!("下一步，用根密钥认证本节点：`edusync enroll request --config {config_shown}`，然后 `edusync keys certify`。"),
            ])
        ),
    }
    Ok(())
}
