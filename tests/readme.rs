//! The README's Quick start, run as written: the README cannot drift from the binary.

use std::path::Path;

use crate::demo::assert_clean_report;
use crate::util::{assert_code, run};

fn repo_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The commands of the `sh` blocks of the README's "Quick start" section, in order.
fn quick_start_commands(readme: &str) -> Vec<String> {
    let start = readme
        .find("\n## Quick start\n")
        .expect("a Quick start section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in section.lines() {
        match (in_sh, line.trim()) {
            (false, "```sh") => in_sh = true,
            (true, "```") => in_sh = false,
            (true, "") => {}
            (true, command) => commands.push(command.to_string()),
            _ => {}
        }
    }
    commands
}

#[test]
fn quick_start_has_the_two_commands() {
    let commands = quick_start_commands(&repo_file("README.md"));
    assert_eq!(
        commands,
        [
            "cargo run --release -- demo",
            "cargo test --workspace --locked"
        ]
    );
}

#[test]
fn the_first_command_runs_the_demo_to_a_clean_report() {
    let commands = quick_start_commands(&repo_file("README.md"));
    let first = commands.first().expect("a first command");
    // `cargo run [cargo flags] -- ARGS`: the built binary with ARGS (into a temporary
    // directory rather than ./wutap-demo).
    let (cargo, args) = first.split_once(" -- ").expect("cargo run … -- ARGS");
    assert!(cargo.starts_with("cargo run"), "{first}");
    let tmp = tempfile::tempdir().unwrap();
    let mut argv: Vec<&str> = args.split_whitespace().collect();
    assert_eq!(argv.first(), Some(&"demo"), "{first}");
    argv.extend(["--dir", tmp.path().to_str().unwrap()]);
    let out = run(&argv);
    assert_code(&out, 0);
    assert_clean_report(&String::from_utf8_lossy(&out.stdout));
}

#[test]
fn the_second_command_is_the_test_command_of_ci() {
    let commands = quick_start_commands(&repo_file("README.md"));
    let second = commands.get(1).expect("a second command");
    let ci = repo_file(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == second),
        ".ci/run does not run {second:?}:\n{ci}"
    );
}

#[test]
fn quick_start_parsing_stops_at_the_next_section() {
    let text = "# x\n\n## Quick start\n\n```sh\na b\n```\n\ntext\n```\nnot sh\n```\n```sh\nc\n```\n## Next\n```sh\nd\n```\n";
    assert_eq!(quick_start_commands(text), ["a b", "c"]);
}
