//! The readable corpus of bad lines: tests/corpus/bad_records.txt.

use crate::reason;

struct Case {
    /// Line number of the input in the corpus file, for failure messages.
    at: usize,
    input: String,
    expected: String,
}

fn cases() -> Vec<Case> {
    let text = include_str!("../corpus/bad_records.txt");
    let mut cases = Vec::new();
    let mut pending: Option<(usize, &str)> = None;
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(expected) = line.strip_prefix("=> ") {
            let Some((at, input)) = pending.take() else {
                panic!("bad_records.txt:{}: a reason without an input line", i + 1);
            };
            cases.push(Case {
                at,
                input: input.to_owned(),
                expected: expected.to_owned(),
            });
        } else {
            if let Some((at, _)) = pending {
                panic!("bad_records.txt:{at}: an input line without a reason");
            }
            pending = Some((i + 1, line));
        }
    }
    assert!(
        pending.is_none(),
        "bad_records.txt ends with an input line without a reason"
    );
    cases
}

#[test]
fn every_bad_line_is_rejected_with_its_exact_reason() {
    let cases = cases();
    assert!(cases.len() >= 75, "the corpus lost cases: {}", cases.len());
    let mut wrong = Vec::new();
    for case in &cases {
        let got = reason(case.input.as_bytes());
        if got != case.expected {
            wrong.push(format!(
                "bad_records.txt:{}\n  input:    {}\n  expected: {}\n  got:      {}",
                case.at, case.input, case.expected, got
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_corpus_as_one_file_rejects_every_line_and_keeps_line_numbers() {
    use suho_record::{split_lines, RejectedLine};
    let cases = cases();
    // Blank lines between records are counted but skipped.
    let mut file = String::new();
    for case in &cases {
        file.push_str(&case.input);
        file.push_str("\n\n");
    }
    let rejected: Vec<RejectedLine> = split_lines(file.as_bytes(), 1)
        .filter_map(|(n, line)| {
            suho_record::parse_record(line)
                .err()
                .map(|e| RejectedLine::new(n, &e))
        })
        .collect();
    assert_eq!(rejected.len(), cases.len());
    for (k, (r, case)) in rejected.iter().zip(&cases).enumerate() {
        assert_eq!(r.line, 2 * k as u64 + 1);
        assert_eq!(r.reason, case.expected);
    }
}
