//! The encoding of named tasks' arguments and results: postcard (what
//! allot uses) against JSON (`serde_json`), encode and decode, on two
//! typical records: a training shard's arguments (a few scalars, a name
//! and 256 floats) and a small inference request. Prints the encoded sizes
//! once.
//!
//! Run with `cargo bench --bench codec`.

// criterion's macros define an undocumented `benches` function.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Shard {
    model: String,
    shard: u32,
    epoch: u32,
    batch_size: u32,
    learning_rate: f64,
    seed: u64,
    weights: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Request {
    model: String,
    tokens: Vec<u32>,
    temperature: f32,
}

fn shard() -> Shard {
    Shard {
        model: "resnet50".into(),
        shard: 17,
        epoch: 3,
        batch_size: 256,
        learning_rate: 0.001,
        seed: 0x5eed,
        weights: (0..256).map(|i| (i as f32).sin()).collect(),
    }
}

fn request() -> Request {
    Request {
        model: "llama-7b".into(),
        tokens: (0..32).map(|i| i * 97 % 32_000).collect(),
        temperature: 0.7,
    }
}

fn compare<T>(c: &mut Criterion, name: &str, value: T)
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let post = postcard::to_stdvec(&value).unwrap();
    let json = serde_json::to_vec(&value).unwrap();
    assert_eq!(postcard::from_bytes::<T>(&post).unwrap(), value);
    assert_eq!(serde_json::from_slice::<T>(&json).unwrap(), value);
    println!(
        "{name}: postcard {} bytes, json {} bytes",
        post.len(),
        json.len()
    );
    let mut g = c.benchmark_group(name);
    g.bench_function("postcard encode", |b| {
        b.iter(|| postcard::to_stdvec(black_box(&value)).unwrap())
    });
    g.bench_function("json encode", |b| {
        b.iter(|| serde_json::to_vec(black_box(&value)).unwrap())
    });
    g.bench_function("postcard decode", |b| {
        b.iter(|| postcard::from_bytes::<T>(black_box(&post)).unwrap())
    });
    g.bench_function("json decode", |b| {
        b.iter(|| serde_json::from_slice::<T>(black_box(&json)).unwrap())
    });
    g.finish();
}

fn codecs(c: &mut Criterion) {
    compare(c, "shard", shard());
    compare(c, "request", request());
}

criterion_group!(benches, codecs);
criterion_main!(benches);
