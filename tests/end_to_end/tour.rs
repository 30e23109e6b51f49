//! The tours a newcomer follows, run as written: the README's short tour,
//! with the five-minute tour of docs/school.md it sends you to for the
//! set-up, in one bash shell from the repository's root, as a person pasting
//! them would. Each command must exit as the docs say (0, or the
//! `(exit status N)` its example shows), and every example output line
//! (`#   text`, `…` standing for anything) must be in what it printed. Edit a
//! tour and this test tells you whether it still runs.
//!
//! Two things differ from a person's run, both for the machine running the
//! tests: the scratch folder `/tmp/edusync-tour` is a fresh temporary
//! directory, and blocks after a `<!-- not run by the tour test: … -->`
//! comment (a server that runs until stopped) are skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

const SCRATCH: &str = "/tmp/edusync-tour";
const SKIP: &str = "<!-- not run by the tour test";

/// One command of a tour and what its example says it prints.
#[derive(Debug)]
struct Step {
    command: String,
    expected_lines: Vec<String>,
    expected_status: i32,
}

/// The ```sh blocks of one section of a markdown file.
fn blocks_of_section(markdown: &str, heading: &str) -> Vec<String> {
    let start = markdown.find(heading).unwrap_or_else(|| panic!("no section {heading:?}"));
    let rest = &markdown[start + heading.len()..];
    let section = rest.find("\n## ").map_or(rest, |end| &rest[..end]);
    let mut blocks = Vec::new();
    // The fenced block being read, and whether it is run (another language
    // is read past, never run).
    let mut current: Option<(String, bool)> = None;
    let mut skip_next = false;
    for line in section.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some((String::new(), !std::mem::take(&mut skip_next))),
            // Another fence: the skip comment was for the block right after it.
            (None, text) if text.trim_start().starts_with("```") => {
                let fence = text.trim_start().trim_start_matches('`');
                assert!(
                    !["bash", "shell", "console", "sh"].contains(&fence),
                    "a tour's shell block must be fenced exactly ```sh at the line's start, or it is not run: {text}"
                );
                skip_next = false;
                current = Some((String::new(), false));
            }
            (None, text) if text.starts_with(SKIP) => skip_next = true,
            (Some((block, run)), "```") => {
                if *run {
                    blocks.push(std::mem::take(block));
                }
                current = None;
            }
            (Some((block, _)), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// Whether the shell would wait for more lines after `text`: an open quote,
/// a loop without its `done`, a line ending in `\` or `|`.
fn incomplete(text: &str) -> bool {
    let mut single = false;
    let mut double = false;
    let mut code = String::new();
    for line in text.lines() {
        let mut escaped = false;
        let mut previous = ' ';
        for character in line.chars() {
            match character {
                _ if escaped => escaped = false,
                '\\' if !single => escaped = true,
                '\'' if !double => single = !single,
                '"' if !single => double = !double,
                // A comment runs to the end of the line, quotes and all.
                '#' if !single && !double && previous.is_whitespace() => break,
                _ => {}
            }
            code.push(character);
            previous = character;
        }
        code.push('\n');
    }
    let words = |word: &str| code.split_whitespace().filter(|each| each.trim_end_matches(';') == word).count();
    let trimmed = code.trim_end();
    single || double || words("do") > words("done") || trimmed.ends_with('\\') || trimmed.ends_with('|')
}

fn steps_of_block(block: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut pending = String::new();
    for line in block.lines() {
        if pending.is_empty() {
            if let Some(expected) = line.strip_prefix("#   ") {
                let step = steps.last_mut().expect("an example output follows a command");
                let expected = match expected.split_once("(exit status ") {
                    Some((text, status)) => {
                        step.expected_status = status.trim_end().trim_end_matches(')').parse().expect("an exit status");
                        text.trim_end()
                    }
                    None => expected.trim_end(),
                };
                if !expected.is_empty() {
                    step.expected_lines.push(expected.to_owned());
                }
                continue;
            }
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
        }
        pending.push_str(line);
        pending.push('\n');
        if !incomplete(&pending) {
            steps.push(Step { command: std::mem::take(&mut pending), expected_lines: Vec::new(), expected_status: 0 });
        }
    }
    assert!(pending.is_empty(), "a command is left open at the end of a block: {pending}");
    steps
}

/// Whether `line` shows `expected`, where `…` stands for any text: the
/// parts between ellipses appear in order.
fn shows(line: &str, expected: &str) -> bool {
    let mut rest = line;
    for part in expected.split('…').map(str::trim).filter(|part| !part.is_empty()) {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository holds tests/").to_path_buf()
}

/// One bash script that runs every step in the same shell (so `cd`,
/// variables and background nodes carry over, as in a terminal), keeping
/// each step's output and exit status in `results/`.
fn script(steps: &[Step], results: &Path, scratch: &Path) -> String {
    let mut script = String::from("set +e\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n");
    for (index, step) in steps.iter().enumerate() {
        let command = step.command.replace(SCRATCH, &scratch.display().to_string());
        let output = results.join(format!("{index}.out"));
        let status = results.join(format!("{index}.status"));
        script.push_str(&format!(
            "{{\n{command}\n}} > '{}' 2>&1 < /dev/null\necho $? > '{}'\n",
            output.display(),
            status.display()
        ));
    }
    script
}

#[test]
fn the_tours_in_the_docs_run_as_written() {
    let repository = repository();
    let read = |file: &str| std::fs::read_to_string(repository.join(file)).expect("reads the doc");
    // In a newcomer's order: the README's build, the school guide's tour it
    // points to for the set-up, then the rest of the README's tour.
    let readme = blocks_of_section(&read("README.md"), "## A short tour");
    let school = blocks_of_section(&read("docs/school.md"), "## A five-minute tour of the command line");
    let (build, readme_rest) = readme.split_first().expect("the README's tour starts with its build");
    let steps: Vec<Step> =
        std::iter::once(build).chain(&school).chain(readme_rest).flat_map(|block| steps_of_block(block)).collect();
    assert!(steps.len() > 20, "the tours have their commands: {steps:?}");

    // The example configs serve on these; a node left running from a tour
    // by hand would answer instead, with another CA.
    for port in [7301, 7401] {
        if let Err(error) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            panic!("port {port}, which the example configs use, is taken ({error}): stop what listens there");
        }
    }
    let work = tempfile::tempdir().expect("tempdir");
    let scratch = work.path().join("edusync-tour");
    let results = work.path().join("results");
    std::fs::create_dir_all(&results).expect("results folder");
    let mut bash = Command::new("bash");
    for variable in ["LC_ALL", "LC_MESSAGES", "LANG", "EDUSYNC_LANGUAGE", "EDUSYNC_NODE"] {
        bash.env_remove(variable);
    }
    let status =
        bash.arg("-c").arg(script(&steps, &results, &scratch)).current_dir(&repository).status().expect("bash runs");
    assert!(status.success(), "the tour's shell ended with {status}");

    let mut problems = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let output = std::fs::read_to_string(results.join(format!("{index}.out"))).unwrap_or_default();
        let exit: i32 = std::fs::read_to_string(results.join(format!("{index}.status")))
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(-1);
        let command = step.command.trim();
        if exit != step.expected_status {
            problems.push(format!("`{command}` exited {exit}, the docs say {}:\n{output}", step.expected_status));
            continue;
        }
        // A loop's status is its last command's: an error earlier in it shows only in what it printed.
        if step.expected_status == 0 && output.lines().any(|line| line.starts_with("error:")) {
            problems.push(format!("`{command}` printed an error the docs do not show:\n{output}"));
            continue;
        }
        for expected in &step.expected_lines {
            if !output.lines().any(|line| shows(line, expected)) {
                problems.push(format!("`{command}` did not print `{expected}`; it printed:\n{output}"));
            }
        }
    }
    assert!(problems.is_empty(), "the tours drifted from what edusync does:\n\n{}", problems.join("\n\n"));
}

#[test]
fn an_example_line_matches_with_an_ellipsis_for_anything() {
    assert!(shows("already stored: 0f84ab12 (nothing new written)", "already stored: 0f84… (nothing new written)"));
    assert!(!shows("already stored: 0f84ab12", "stored again: 0f84…"));
    assert!(shows("  VN.BT.D03.S017  1  1  1  verified", "VN.BT.D03.S017  1  1  1  verified"));
    assert!(!shows("error: x", "error: y …"));
    let steps = steps_of_block("echo '{\"a\":1,\n  \"b\":2}' \\\n  | cat\n#   error: no      (exit status 2)\nfor a in b; do\n  echo $a\ndone\n");
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0].expected_status, 2);
    assert_eq!(steps[0].expected_lines, ["error: no"]);
}
