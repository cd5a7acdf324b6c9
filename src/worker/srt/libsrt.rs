//! libsrt (Haivision's reference SRT, the library FFmpeg, OBS and SRS use), loaded at run time with
//! `dlopen`: the build needs no `-dev` package and a machine without SRT listeners never loads it.
//! Thin, blocking calls on raw sockets; `super::bridge` runs them on threads of their own so the
//! worker's tokio runtime never blocks.

use anyhow::{bail, Context};
use libc::{c_char, c_int, c_void, sockaddr};
use std::ffi::{CStr, CString};
use std::net::SocketAddr;
use std::sync::OnceLock;

/// The message a worker gives when libsrt is missing.
pub const MISSING: &str = "SRT needs libsrt (apt install libsrt1.5-gnutls)";

/// Sonames tried in order: Debian/Ubuntu's GnuTLS and OpenSSL builds, then a plain build.
const SONAMES: [&str; 4] = [
    "libsrt-gnutls.so.1.5",
    "libsrt-openssl.so.1.5",
    "libsrt.so.1.5",
    "libsrt.so",
];

/// An SRT socket handle (`SRTSOCKET`).
pub type SrtSocket = c_int;

const SRT_ERROR: c_int = -1;
const SRT_INVALID_SOCK: c_int = -1;
/// `SRT_SOCKSTATUS`: states after this one mean the connection is over.
const SRTS_CONNECTED: c_int = 5;

/// `SRT_SOCKOPT` values from `srt.h` (stable since 1.3).
pub mod opt {
    use libc::c_int;
    pub const SNDSYN: c_int = 1;
    pub const RCVSYN: c_int = 2;
    pub const SNDTIMEO: c_int = 13;
    pub const RCVTIMEO: c_int = 14;
    pub const LATENCY: c_int = 23;
    pub const PASSPHRASE: c_int = 26;
    pub const PBKEYLEN: c_int = 27;
    pub const STREAMID: c_int = 46;
}

/// `SRT_ETIMEOUT` of `SRT_ERRNO`: a receive or send timed out (not an error of the connection).
pub const ETIMEOUT: c_int = 6003;
/// `SRT_EASYNCRCV`: no data yet on a non-blocking receive.
pub const EASYNCRCV: c_int = 6002;

type StartupFn = unsafe extern "C" fn() -> c_int;
type CreateFn = unsafe extern "C" fn() -> SrtSocket;
type BindFn = unsafe extern "C" fn(SrtSocket, *const sockaddr, c_int) -> c_int;
type ListenFn = unsafe extern "C" fn(SrtSocket, c_int) -> c_int;
type AcceptFn = unsafe extern "C" fn(SrtSocket, *mut sockaddr, *mut c_int) -> SrtSocket;
type CloseFn = unsafe extern "C" fn(SrtSocket) -> c_int;
type SetFlagFn = unsafe extern "C" fn(SrtSocket, c_int, *const c_void, c_int) -> c_int;
type GetFlagFn = unsafe extern "C" fn(SrtSocket, c_int, *mut c_void, *mut c_int) -> c_int;
type RecvFn = unsafe extern "C" fn(SrtSocket, *mut c_char, c_int) -> c_int;
type SendFn = unsafe extern "C" fn(SrtSocket, *const c_char, c_int, c_int, c_int) -> c_int;
type ErrStrFn = unsafe extern "C" fn() -> *const c_char;
type ErrFn = unsafe extern "C" fn(*mut c_int) -> c_int;
type LogLevelFn = unsafe extern "C" fn(c_int);
type StateFn = unsafe extern "C" fn(SrtSocket) -> c_int;

/// The functions oryx calls, resolved once per process.
pub struct Lib {
    create: CreateFn,
    bind: BindFn,
    listen: ListenFn,
    accept: AcceptFn,
    close: CloseFn,
    set_flag: SetFlagFn,
    get_flag: GetFlagFn,
    recv: RecvFn,
    send: SendFn,
    err_str: ErrStrFn,
    err: ErrFn,
    state: StateFn,
}

static LIB: OnceLock<Result<Lib, String>> = OnceLock::new();

/// libsrt, loaded and started on first use; `Err` says how to install it.
pub fn lib() -> anyhow::Result<&'static Lib> {
    LIB.get_or_init(load)
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn load() -> Result<Lib, String> {
    let handle = SONAMES.iter().find_map(|name| {
        let c = CString::new(*name).ok()?;
        // SAFETY: dlopen with a valid C string; the handle is kept for the process's life.
        let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        (!h.is_null()).then_some(h)
    });
    let Some(handle) = handle else {
        return Err(MISSING.to_string());
    };
    let sym = |name: &str| -> Result<*mut c_void, String> {
        let c = CString::new(name).map_err(|e| e.to_string())?;
        // SAFETY: a valid handle and C string.
        let p = unsafe { libc::dlsym(handle, c.as_ptr()) };
        if p.is_null() {
            Err(format!("libsrt has no {name}: {MISSING} (1.4 or newer)"))
        } else {
            Ok(p)
        }
    };
    // SAFETY: each symbol is transmuted to the signature srt.h declares for it.
    unsafe {
        let startup: StartupFn = symbol(sym("srt_startup")?);
        let log_level: LogLevelFn = symbol(sym("srt_setloglevel")?);
        let lib = Lib {
            create: symbol(sym("srt_create_socket")?),
            bind: symbol(sym("srt_bind")?),
            listen: symbol(sym("srt_listen")?),
            accept: symbol(sym("srt_accept")?),
            close: symbol(sym("srt_close")?),
            set_flag: symbol(sym("srt_setsockflag")?),
            get_flag: symbol(sym("srt_getsockflag")?),
            recv: symbol(sym("srt_recvmsg")?),
            send: symbol(sym("srt_sendmsg")?),
            err_str: symbol(sym("srt_getlasterror_str")?),
            err: symbol(sym("srt_getlasterror")?),
            state: symbol(sym("srt_getsockstate")?),
        };
        if startup() < 0 {
            return Err("srt_startup failed".to_string());
        }
        // Errors only (LOG_ERR = 3): a refused caller is oryx's to log, once, with its reason.
        log_level(3);
        Ok(lib)
    }
}

/// A resolved symbol as the function type `F` (a function pointer, the size of a data pointer).
///
/// # Safety
/// `F` must be the signature srt.h declares for the symbol.
unsafe fn symbol<F: Copy>(pointer: *mut c_void) -> F {
    debug_assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
    // SAFETY: the caller names the symbol's own signature; both are pointer-sized.
    unsafe { std::mem::transmute_copy(&pointer) }
}

/// The last error of this thread: (SRT code, text).
fn last_error(lib: &Lib) -> (c_int, String) {
    // SAFETY: both return thread-local state; the string is valid until the next call.
    unsafe {
        let code = (lib.err)(std::ptr::null_mut());
        let text = (lib.err_str)();
        let text = if text.is_null() {
            String::new()
        } else {
            CStr::from_ptr(text).to_string_lossy().into_owned()
        };
        (code, text)
    }
}

/// What a listener applies to each caller.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    pub latency_ms: u32,
    /// 10–79 characters; `None`: unencrypted (an encrypting caller is then refused).
    pub passphrase: Option<String>,
    pub pbkeylen: u8,
}

/// Outcome of a receive.
pub enum Recv {
    Data(usize),
    /// Nothing within the receive timeout.
    Timeout,
    /// The connection ended (closed, broken); the text says why.
    Closed(String),
}

impl Lib {
    /// Create, configure, bind and listen. Options set on the listener are inherited by the
    /// sockets it accepts (libsrt's rule), so a caller with the wrong passphrase is refused in the
    /// handshake and never reaches `accept`.
    pub fn listen(&self, addr: SocketAddr, options: &ListenOptions) -> anyhow::Result<SrtSocket> {
        // SAFETY: plain constructor.
        let sock = unsafe { (self.create)() };
        if sock == SRT_INVALID_SOCK {
            bail!("srt_create_socket: {}", last_error(self).1);
        }
        let result = self.configure_listener(sock, addr, options);
        if result.is_err() {
            self.close(sock);
        }
        result.map(|()| sock)
    }

    fn configure_listener(
        &self,
        sock: SrtSocket,
        addr: SocketAddr,
        options: &ListenOptions,
    ) -> anyhow::Result<()> {
        self.set_int(sock, opt::LATENCY, options.latency_ms as c_int)
            .context("latency")?;
        if let Some(pass) = &options.passphrase {
            self.set_bytes(sock, opt::PASSPHRASE, pass.as_bytes())
                .context("passphrase")?;
            self.set_int(sock, opt::PBKEYLEN, c_int::from(options.pbkeylen))
                .context("pbkeylen")?;
        }
        let (storage, len) = sockaddr_of(addr);
        // SAFETY: storage holds a sockaddr of `len` bytes.
        if unsafe { (self.bind)(sock, (&raw const storage).cast(), len) } == SRT_ERROR {
            bail!("cannot listen on {addr} (UDP): {}", last_error(self).1);
        }
        // SAFETY: a bound socket.
        if unsafe { (self.listen)(sock, 128) } == SRT_ERROR {
            bail!("srt_listen on {addr}: {}", last_error(self).1);
        }
        Ok(())
    }

    /// Block until a caller completes its handshake; returns the socket and the caller's address.
    pub fn accept(&self, listener: SrtSocket) -> anyhow::Result<(SrtSocket, Option<SocketAddr>)> {
        // SAFETY: zeroed storage is a valid sockaddr_storage; len is its size.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as c_int;
        let sock = unsafe { (self.accept)(listener, (&raw mut storage).cast(), &mut len) };
        if sock == SRT_INVALID_SOCK {
            bail!("srt_accept: {}", last_error(self).1);
        }
        Ok((sock, socket_addr_of(&storage)))
    }

    /// The stream id the caller sent (`SRTO_STREAMID`, at most 512 bytes).
    pub fn stream_id(&self, sock: SrtSocket) -> String {
        let mut buf = [0u8; 513];
        let mut len = buf.len() as c_int;
        // SAFETY: buf has `len` bytes.
        let rc = unsafe { (self.get_flag)(sock, opt::STREAMID, buf.as_mut_ptr().cast(), &mut len) };
        if rc == SRT_ERROR {
            return String::new();
        }
        let len = (len.max(0) as usize).min(buf.len());
        let text = &buf[..len];
        let text = text.split(|b| *b == 0).next().unwrap_or_default();
        String::from_utf8_lossy(text).into_owned()
    }

    /// Timeouts in ms for blocking receive and send (-1: for ever).
    pub fn set_timeouts(&self, sock: SrtSocket, recv_ms: i32, send_ms: i32) -> anyhow::Result<()> {
        self.set_int(sock, opt::RCVTIMEO, recv_ms)?;
        self.set_int(sock, opt::SNDTIMEO, send_ms)?;
        self.set_int(sock, opt::RCVSYN, 1)?;
        self.set_int(sock, opt::SNDSYN, 1)
    }

    /// One message (in live mode: up to 1316 bytes of TS packets).
    pub fn recv(&self, sock: SrtSocket, buf: &mut [u8]) -> Recv {
        let len = buf.len().min(c_int::MAX as usize) as c_int;
        // SAFETY: buf has at least `len` bytes.
        let n = unsafe { (self.recv)(sock, buf.as_mut_ptr().cast(), len) };
        if n >= 0 {
            return Recv::Data(n as usize);
        }
        let (code, text) = last_error(self);
        if code == ETIMEOUT || code == EASYNCRCV {
            Recv::Timeout
        } else {
            Recv::Closed(text)
        }
    }

    /// Send one message (at most 1316 bytes in live mode); `Ok(false)` on a send timeout.
    pub fn send(&self, sock: SrtSocket, data: &[u8]) -> anyhow::Result<bool> {
        // SAFETY: data has data.len() bytes; ttl -1 (for ever), in order.
        let n = unsafe { (self.send)(sock, data.as_ptr().cast(), data.len() as c_int, -1, 1) };
        if n >= 0 {
            return Ok(true);
        }
        let (code, text) = last_error(self);
        if code == ETIMEOUT {
            return Ok(false);
        }
        bail!("{text}")
    }

    /// Whether the connection is still up (`SRTS_CONNECTED` or before).
    pub fn connected(&self, sock: SrtSocket) -> bool {
        // SAFETY: any id is accepted; unknown ones report SRTS_NONEXIST.
        let state = unsafe { (self.state)(sock) };
        state <= SRTS_CONNECTED
    }

    pub fn close(&self, sock: SrtSocket) {
        // SAFETY: closing an id twice only returns an error.
        unsafe { (self.close)(sock) };
    }

    fn set_int(&self, sock: SrtSocket, option: c_int, value: c_int) -> anyhow::Result<()> {
        self.set_bytes(sock, option, &value.to_ne_bytes())
    }

    fn set_bytes(&self, sock: SrtSocket, option: c_int, value: &[u8]) -> anyhow::Result<()> {
        // SAFETY: value has value.len() bytes.
        let rc =
            unsafe { (self.set_flag)(sock, option, value.as_ptr().cast(), value.len() as c_int) };
        if rc == SRT_ERROR {
            bail!("srt_setsockflag({option}): {}", last_error(self).1);
        }
        Ok(())
    }
}

fn sockaddr_of(addr: SocketAddr) -> (libc::sockaddr_storage, c_int) {
    // SAFETY: zeroed sockaddr_storage is valid; we fill the family's struct in place.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: as above.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as c_int)
}

fn socket_addr_of(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says it is a sockaddr_in.
            let sin: &libc::sockaddr_in = unsafe { &*(storage as *const _ as *const _) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says it is a sockaddr_in6.
            let sin6: &libc::sockaddr_in6 = unsafe { &*(storage as *const _ as *const _) };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::from((ip, u16::from_be(sin6.sin6_port))))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_round_trip() {
        for addr in ["127.0.0.1:10080", "[::1]:9000"] {
            let addr: SocketAddr = addr.parse().unwrap();
            let (storage, _) = sockaddr_of(addr);
            assert_eq!(socket_addr_of(&storage), Some(addr));
        }
    }
}
