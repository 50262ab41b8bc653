//! Forwarding a query to the upstream server: UDP first, TCP when the answer is truncated.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Datagrams from the upstream's address that are not the answer (a late answer to an
/// earlier query on a reused port, say) are skipped, this many at most.
const MAX_STRAY: usize = 16;

/// The upstream's raw answer to `request` sent with `id`; the caller bounds the time.
pub(crate) async fn exchange(
    upstream: SocketAddr,
    request: &[u8],
    id: u16,
) -> Result<Vec<u8>, String> {
    let mut query = request.to_vec();
    query[..2].copy_from_slice(&id.to_be_bytes());
    let answer = over_udp(upstream, &query, id).await?;
    // TC: the answer did not fit in a datagram.
    if answer[2] & 0x02 != 0 {
        return over_tcp(upstream, &query, id).await;
    }
    Ok(answer)
}

fn is_answer(message: &[u8], id: u16) -> bool {
    message.len() >= 12 && message[..2] == id.to_be_bytes() && message[2] & 0x80 != 0
}

async fn over_udp(upstream: SocketAddr, query: &[u8], id: u16) -> Result<Vec<u8>, String> {
    let local: IpAddr = match upstream.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(ip) if ip.is_loopback() => Ipv6Addr::LOCALHOST.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(local, 0))
        .await
        .map_err(|e| format!("bind: {e}"))?;
    // Connected: the kernel drops datagrams from any other address.
    socket
        .connect(upstream)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    socket.send(query).await.map_err(|e| format!("send: {e}"))?;
    let mut buf = vec![0u8; 65_535];
    for _ in 0..=MAX_STRAY {
        let n = socket
            .recv(&mut buf)
            .await
            .map_err(|e| format!("receive: {e}"))?;
        if is_answer(&buf[..n], id) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
    Err(format!("{MAX_STRAY} datagrams that were not the answer"))
}

async fn over_tcp(upstream: SocketAddr, query: &[u8], id: u16) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect(upstream)
        .await
        .map_err(|e| format!("tcp connect: {e}"))?;
    let mut frame = Vec::with_capacity(query.len() + 2);
    frame.extend_from_slice(&(query.len() as u16).to_be_bytes());
    frame.extend_from_slice(query);
    stream
        .write_all(&frame)
        .await
        .map_err(|e| format!("tcp send: {e}"))?;
    let len = stream
        .read_u16()
        .await
        .map_err(|e| format!("tcp receive: {e}"))?;
    let mut answer = vec![0u8; usize::from(len)];
    stream
        .read_exact(&mut answer)
        .await
        .map_err(|e| format!("tcp receive: {e}"))?;
    if !is_answer(&answer, id) {
        return Err("tcp: the answer is not a response to the query".to_string());
    }
    Ok(answer)
}
