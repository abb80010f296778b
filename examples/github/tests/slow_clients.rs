//! Clients that hold the server: a body trickling one byte at a time, an endless chunked body, and more
//! connections than the process has files. Against the real binary, settings from the environment.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;

const SECRET: (&str, &str) = ("OCEAN__INTEGRATION__CONFIG__WEBHOOK_SECRET", "s3cret");

fn head(port: u16, extra: &str) -> String {
    format!(
        "POST /integration/webhook HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n\
         x-github-event: issues\r\n{extra}\r\n"
    )
}

/// Reads until the server closes the connection (or `limit` passes); returns what it sent.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn a_trickling_body_gets_408_and_its_connection_closed() {
    let dir = ocean_tests::temp_state_dir("trickle");
    let binary = support::spawn(&dir, &[SECRET, ("OCEAN__HTTP__BODY_TIMEOUT_SECONDS", "1")]);
    support::wait_ready(&ocean::testing::client(), &binary.base).await;
    let mut stream = TcpStream::connect(("127.0.0.1", binary.port)).await.unwrap();
    stream.write_all(head(binary.port, "content-length: 1000\r\n").as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..1000 {
            if writer.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(60), reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the connection was still open after 60 s"),
        }
    }
    trickle.abort();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("OCEAN__HTTP__BODY_TIMEOUT_SECONDS"), "{text}");
    eprintln!("trickling body cut off after {:?}", started.elapsed());
}

#[tokio::test]
async fn an_endless_chunked_body_is_cut_off_after_the_limit() {
    let dir = ocean_tests::temp_state_dir("chunked");
    let limit = 64 * 1024;
    let binary = support::spawn(&dir, &[SECRET, ("OCEAN__HTTP__MAX_BODY_BYTES", "65536")]);
    support::wait_ready(&ocean::testing::client(), &binary.base).await;
    let stream = TcpStream::connect(("127.0.0.1", binary.port)).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(head(binary.port, "transfer-encoding: chunked\r\n").as_bytes()).await.unwrap();
    let writing = tokio::spawn(async move {
        let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "0".repeat(16 * 1024));
        let mut sent = 0usize;
        // At most 1 GiB: a server that keeps reading is a failure, not a hang of the suite.
        while sent < 1 << 30 {
            if writer.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(60), reader.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let sent = tokio::time::timeout(Duration::from_secs(60), writing).await.expect("the writer stopped").unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    eprintln!("endless chunked body: {sent} bytes written before the connection closed (limit {limit})");
    // What the kernel buffers on both sides, plus the limit: far below the 1 GiB the client would send.
    assert!(sent < 64 << 20, "the server kept reading: {sent} bytes");
}

/// Holds three times the file limit of connections, each sending headers and then holding its body;
/// returns the binary's log once `/health/live` answered and a held connection was closed.
async fn hold_more_connections_than_files(max_connections: Option<&str>) -> String {
    let dir = ocean_tests::temp_state_dir("files");
    let mut envs =
        vec![SECRET, ("OCEAN__HTTP__BODY_TIMEOUT_SECONDS", "1"), ("OCEAN__HTTP__WORKERS", "1"), ("RUST_LOG", "info")];
    envs.extend(max_connections.map(|n| ("OCEAN__HTTP__MAX_CONNECTIONS", n)));
    let binary = support::spawn_logged(&dir, &envs, Some(128));
    let client = ocean::testing::client();
    support::wait_ready(&client, &binary.base).await;
    let mut held = Vec::new();
    for _ in 0..384 {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", binary.port)).await else { break };
        let _ = s.write_all(head(binary.port, "content-length: 1000\r\n").as_bytes()).await;
        held.push(s);
    }
    let started = Instant::now();
    let live =
        tokio::time::timeout(Duration::from_secs(120), client.get(format!("{}/health/live", binary.base)).send())
            .await
            .expect("/health/live answered within 120 s")
            .expect("/health/live");
    assert!(live.status().is_success());
    eprintln!("/health/live answered after {:?} behind {} held connections", started.elapsed(), held.len());
    let (_, closed) = read_until_closed(&mut held[0], Duration::from_secs(60)).await;
    assert!(closed, "a held connection was closed by the body timeout");
    // Let the accept loop retry a few times, as it does every half second while files are short.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = binary.log();
    assert!(log.contains("listening"), "the log is read: {log}");
    log
}

#[tokio::test]
async fn more_connections_than_files_wait_in_the_backlog() {
    let log = hold_more_connections_than_files(None).await;
    assert_eq!(log.matches("accepting connection").count(), 0, "the default limit stays below the file limit:\n{log}");
    assert!(!log.contains("ERROR"), "{log}");
}

#[tokio::test]
async fn accept_errors_are_logged_once_per_interval() {
    // A limit above the file limit: `accept` fails every half second while connections are held.
    let log = hold_more_connections_than_files(Some("25000")).await;
    assert_eq!(log.matches("accepting connection").count(), 1, "accept errors:\n{log}");
}
