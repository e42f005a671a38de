//! The verdict reader on large artifacts: what a gate pays to read one.
//! Figures go to `docs/benchmarks.md` ("Verdict reader").
//!
//! Run with: `cargo bench -p orch-pipeline --bench verdict`
//!
//! - `staging log, 100 MB of output`: the staging runner's layout, the
//!   verdict line and then 100 MB of suite output inside a fence (the common
//!   large artifact: the block is skipped, not scanned for inline markup);
//! - `one 10 MB paragraph of inline markup`: the worst case a hostile writer
//!   can hand the two CommonMark readings (emphasis, code spans, links and
//!   HTML on every line);
//! - `no key at all, 100 MB`: the pre-check that answers "missing" without
//!   parsing.

#![expect(clippy::unwrap_used, reason = "benchmark setup: a panic is the report")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use orch_pipeline::{Stage, fenced_block, parse_verdict};

fn artifacts(c: &mut Criterion) {
    let spec = Stage::DeployStaging.artifact().unwrap();
    let line = "test tests::case_00042 ... ok `code` *em* [link](x) <b>b</b>\n";
    let output: String = line.repeat(100 * 1024 * 1024 / line.len());
    let staging_log = format!(
        "# Staging log\n\nstaging_status: PASSED\n- outcome: executed\n\n## Output\n\n{}",
        fenced_block("text", &output)
    );
    let dense = format!(
        "staging_status: PASSED\n\n{}",
        line.repeat(10 * 1024 * 1024 / line.len())
    );
    let no_key = output.clone();

    let mut group = c.benchmark_group("verdict");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    group.bench_function("staging log, 100 MB of output", |b| {
        b.iter(|| parse_verdict(black_box(staging_log.as_bytes()), spec).unwrap());
    });
    group.bench_function("one 10 MB paragraph of inline markup", |b| {
        b.iter(|| parse_verdict(black_box(dense.as_bytes()), spec).unwrap());
    });
    group.bench_function("no key at all, 100 MB", |b| {
        b.iter(|| parse_verdict(black_box(no_key.as_bytes()), spec).unwrap_err());
    });
    group.finish();
}

criterion_group!(benches, artifacts);
criterion_main!(benches);
