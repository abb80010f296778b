//! What an unauthenticated request costs: a body none of the path's verifiers accepts is refused before
//! it is parsed, so memory rises by about its own size, not by the size of a parsed document. Its own
//! test binary: the figure is the process's peak resident memory (`VmHWM`), which other tests would move.

use ocean::actix_web::web::Bytes;
use ocean::testing::TestIntegration;

/// The peak resident memory of this process, in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmHWM");
    kb / 1024.0
}

/// `[0,0,...,0]` just under 10 MiB: as a `serde_json::Value` it takes about 16 times its size.
fn zeros() -> Bytes {
    let n = (10 * 1024 * 1024 - 2) / 2;
    let mut body = Vec::with_capacity(2 * n + 1);
    body.push(b'[');
    for i in 0..n {
        body.extend_from_slice(if i == 0 { b"0" } else { b",0" });
    }
    body.push(b']');
    Bytes::from(body)
}

#[tokio::test]
async fn unsigned_ten_mib_bodies_are_refused_before_parsing() {
    let p = ocean_tests::echo("/webhook", "item").auth(ocean::auth::github().secret_value("s3cret"));
    let it = TestIntegration::start(ocean::Integration::new("hostile").processor(p).default_mapping("resources: []"))
        .await
        .unwrap();
    let url = format!("{}/integration/webhook", it.base_url);
    let body = zeros();
    let send = |body: Bytes| {
        let req = it.client.post(&url).header("x-github-event", "issues").header("content-type", "application/json");
        async move { req.body(body).send().await.unwrap().status().as_u16() }
    };
    // Warm up the connection pool and the server's buffers with a small request.
    assert_eq!(send(Bytes::from_static(b"[0]")).await, 401);

    let before = peak_mib();
    assert_eq!(send(body.clone()).await, 401);
    let one = peak_mib() - before;
    eprintln!("one unsigned 10 MiB body: peak +{one:.1} MiB");
    assert!(one < 64.0, "one unsigned 10 MiB body raised peak memory by {one:.1} MiB");

    let before = peak_mib();
    let all = futures_util::future::join_all((0..16).map(|_| send(body.clone()))).await;
    assert!(all.iter().all(|s| *s == 401), "{all:?}");
    let sixteen = peak_mib() - before;
    eprintln!("16 concurrent: peak +{sixteen:.1} MiB");
    assert!(sixteen < 256.0, "16 concurrent unsigned 10 MiB bodies raised peak memory by {sixteen:.1} MiB");
    it.shutdown().await;
}
