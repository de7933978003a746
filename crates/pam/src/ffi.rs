//! The C side: the exported `pam_sm_*` entry points and [`Handle`] on the
//! real `pam_handle_t`. This is the only module with unsafe code.
//!
//! Every entry point validates its pointers, converts the module arguments,
//! then runs the safe logic in [`crate::auth`] inside `catch_unwind`: a panic
//! never crosses into the calling service; it becomes PAM_SERVICE_ERR and a
//! log line. Items and the conversation go through `pam-bindings`;
//! `pam_set_item` (to hand the prompted token to later modules) and
//! `pam_syslog` (variadic) are declared here.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};

use pam::constants::{PAM_PROMPT_ECHO_OFF, PamResultCode};
use pam::conv::Conv;
use pam::items::{AuthTok, RHost};
use pam::module::PamHandle;
use zeroize::Zeroizing;

use crate::auth::{self, Handle, Level, SocketVerifier, VERIFIED_KEY};
use crate::code::Code;

/// `PAM_AUTHTOK` from `_pam_types.h`.
const PAM_AUTHTOK: c_int = 6;

// SAFETY: the declarations match Linux-PAM's headers: `pam_set_item` in
// <security/_pam_types.h> and `pam_syslog` in <security/pam_ext.h>.
// `PamHandle` is pam-bindings' opaque `#[repr(C)]` stand-in for
// `pam_handle_t`, only ever used behind a pointer.
#[link(name = "pam")]
unsafe extern "C" {
    fn pam_set_item(pamh: *mut PamHandle, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_syslog(pamh: *const PamHandle, priority: c_int, fmt: *const c_char, ...);
}

/// What this module stores with `pam_set_data` after an authentication.
struct VerifiedMark(Option<String>);

fn pam_code(e: PamResultCode) -> Code {
    use PamResultCode as P;
    match e {
        P::PAM_SUCCESS => Code::SUCCESS,
        P::PAM_SERVICE_ERR => Code::SERVICE_ERR,
        P::PAM_BUF_ERR => Code::BUF_ERR,
        P::PAM_PERM_DENIED => Code::PERM_DENIED,
        P::PAM_AUTH_ERR => Code::AUTH_ERR,
        P::PAM_AUTHINFO_UNAVAIL => Code::AUTHINFO_UNAVAIL,
        P::PAM_USER_UNKNOWN => Code::USER_UNKNOWN,
        P::PAM_NO_MODULE_DATA => Code::NO_MODULE_DATA,
        P::PAM_CONV_ERR => Code::CONV_ERR,
        P::PAM_IGNORE => Code::IGNORE,
        P::PAM_ABORT => Code::ABORT,
        P::PAM_CONV_AGAIN => Code::CONV_AGAIN,
        P::PAM_INCOMPLETE => Code::INCOMPLETE,
        _ => Code::SYSTEM_ERR,
    }
}

/// Copies secret bytes into a zeroized UTF-8 string; a token is ASCII, so
/// anything else is refused as a bad credential.
fn secret_string(bytes: &[u8]) -> Result<Zeroizing<String>, Code> {
    let copy = Zeroizing::new(bytes.to_vec());
    match std::str::from_utf8(&copy) {
        Ok(s) => Ok(Zeroizing::new(s.to_owned())),
        Err(_) => Err(Code::AUTH_ERR),
    }
}

fn priority(level: Level) -> c_int {
    match level {
        Level::Error => libc::LOG_ERR,
        Level::Notice => libc::LOG_NOTICE,
        Level::Info => libc::LOG_INFO,
        Level::Debug => libc::LOG_DEBUG,
    }
}

struct RealHandle<'a> {
    pamh: &'a mut PamHandle,
}

impl Handle for RealHandle<'_> {
    fn user(&mut self) -> Result<String, Code> {
        self.pamh.get_user(None).map_err(pam_code)
    }

    fn rhost(&self) -> Result<Option<String>, Code> {
        match self.pamh.get_item::<RHost>() {
            // Lossy: a non-UTF-8 value then fails the address check.
            Ok(r) => Ok(r.map(|r| r.0.to_string_lossy().into_owned())),
            Err(e) => Err(pam_code(e)),
        }
    }

    fn authtok(&self) -> Result<Option<Zeroizing<String>>, Code> {
        match self.pamh.get_item::<AuthTok>() {
            Ok(Some(t)) => secret_string(t.as_bytes()).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(pam_code(e)),
        }
    }

    fn prompt_secret(&mut self, prompt: &str) -> Result<Option<Zeroizing<String>>, Code> {
        let conv = match self.pamh.get_item::<Conv>() {
            Ok(Some(c)) => c,
            Ok(None) => return Err(Code::CONV_ERR),
            Err(e) => return Err(pam_code(e)),
        };
        match conv.send(PAM_PROMPT_ECHO_OFF, prompt) {
            Ok(Some(answer)) => secret_string(answer.as_bytes()).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(pam_code(e)),
        }
    }

    fn set_authtok(&mut self, token: &str) -> Result<(), Code> {
        if token.contains('\0') {
            return Err(Code::BUF_ERR);
        }
        let mut c = Zeroizing::new(Vec::with_capacity(token.len() + 1));
        c.extend_from_slice(token.as_bytes());
        c.push(0);
        let pamh: *mut PamHandle = &mut *self.pamh;
        // SAFETY: `pamh` is the live handle of this call; `c` is a
        // NUL-terminated string without interior NULs that outlives the call,
        // and libpam copies string items (so zeroizing `c` afterwards is fine).
        let rc = unsafe { pam_set_item(pamh, PAM_AUTHTOK, c.as_ptr().cast()) };
        if rc == 0 { Ok(()) } else { Err(Code(rc)) }
    }

    fn set_verified(&mut self, user: Option<&str>) -> Result<(), Code> {
        self.pamh
            .set_data(
                VERIFIED_KEY,
                Box::new(VerifiedMark(user.map(str::to_owned))),
            )
            .map_err(pam_code)
    }

    fn verified_user(&self) -> Option<String> {
        // SAFETY: only this module uses VERIFIED_KEY (a name no other module
        // would pick), and it always stores a `VerifiedMark` under it.
        let mark = unsafe { self.pamh.get_data::<VerifiedMark>(VERIFIED_KEY) };
        mark.ok().and_then(|m| m.0.clone())
    }

    fn log(&self, level: Level, message: &str) {
        log_raw(&*self.pamh, level, message);
    }
}

fn log_raw(pamh: *const PamHandle, level: Level, message: &str) {
    let Ok(text) = CString::new(message.replace('\0', "\\0")) else {
        return;
    };
    // SAFETY: `pamh` is the live, non-null handle of the current call; the
    // format is the literal "%s" and its one argument is a NUL-terminated
    // string, so pam_syslog reads exactly what it is given.
    unsafe { pam_syslog(pamh, priority(level), c"%s".as_ptr(), text.as_ptr()) };
}

/// The module arguments as strings.
///
/// # Safety
///
/// When `argc > 0`, `argv` must point to `argc` pointers, each null or a
/// NUL-terminated string valid for the duration of the call (libpam's
/// contract for `pam_sm_*`).
unsafe fn module_args(argc: c_int, argv: *const *const c_char) -> Result<Vec<String>, String> {
    let Ok(n) = usize::try_from(argc) else {
        return Err("libpam passed a negative argc".to_owned());
    };
    if n == 0 {
        return Ok(Vec::new());
    }
    if argv.is_null() {
        return Err("libpam passed a null argv".to_owned());
    }
    // SAFETY: `argv` is non-null and points to `n` pointers (caller's contract).
    let ptrs = unsafe { std::slice::from_raw_parts(argv, n) };
    let mut out = Vec::with_capacity(n);
    for &p in ptrs {
        if p.is_null() {
            return Err("libpam passed a null module argument".to_owned());
        }
        // SAFETY: non-null and NUL-terminated, valid during the call (caller's contract).
        let arg = unsafe { CStr::from_ptr(p) };
        match arg.to_str() {
            Ok(s) => out.push(s.to_owned()),
            Err(_) => return Err(crate::args::ArgError::NotUtf8.to_string()),
        }
    }
    Ok(out)
}

/// Shared body of the entry points.
///
/// # Safety
///
/// `pamh` is null or the handle libpam passed to this call; `argc`/`argv`
/// as in [`module_args`].
unsafe fn entry(
    pamh: *mut PamHandle,
    argc: c_int,
    argv: *const *const c_char,
    what: &str,
    f: impl FnOnce(&mut RealHandle<'_>, &[&str]) -> Code,
) -> c_int {
    if pamh.is_null() {
        return Code::SYSTEM_ERR.0;
    }
    let result = auth::guard(|| {
        // SAFETY: non-null, and libpam's handle is valid and used by this
        // thread only for the duration of the call.
        let Some(handle) = (unsafe { pamh.as_mut() }) else {
            return Code::SYSTEM_ERR;
        };
        let mut h = RealHandle { pamh: handle };
        // SAFETY: argc/argv come straight from libpam (this fn's contract).
        let args = match unsafe { module_args(argc, argv) } {
            Ok(a) => a,
            Err(why) => {
                h.log(Level::Error, &format!("{why}; refusing every login"));
                return Code::SERVICE_ERR;
            }
        };
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        f(&mut h, &refs)
    });
    match result {
        Some(code) => code.0,
        None => {
            log_raw(
                pamh,
                Level::Error,
                &format!("internal error (panic) in {what}; returning PAM_SERVICE_ERR"),
            );
            Code::SERVICE_ERR.0
        }
    }
}

/// Authenticates PAM_USER with an API token through the verify socket.
///
/// # Safety
///
/// Called by libpam with the transaction's handle and the module's
/// `argc`/`argv` from the pam.d line.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pam_sm_authenticate(
    pamh: *mut PamHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    // SAFETY: forwarded unchanged from libpam (this fn's contract).
    unsafe {
        entry(pamh, argc, argv, "pam_sm_authenticate", |h, args| {
            auth::authenticate(h, args, &SocketVerifier)
        })
    }
}

/// No credentials to set: PAM_SUCCESS.
///
/// # Safety
///
/// As [`pam_sm_authenticate`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pam_sm_setcred(
    pamh: *mut PamHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    // SAFETY: forwarded unchanged from libpam (this fn's contract).
    unsafe { entry(pamh, argc, argv, "pam_sm_setcred", |_, _| auth::setcred()) }
}

/// PAM_SUCCESS when this module authenticated the same user in this
/// transaction, PAM_IGNORE otherwise.
///
/// # Safety
///
/// As [`pam_sm_authenticate`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pam_sm_acct_mgmt(
    pamh: *mut PamHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    // SAFETY: forwarded unchanged from libpam (this fn's contract).
    unsafe {
        entry(pamh, argc, argv, "pam_sm_acct_mgmt", |h, args| {
            auth::acct_mgmt(h, args)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_args_checks_pointers() {
        let two = [c"function=x".as_ptr(), c"debug".as_ptr()];
        // SAFETY: `two` holds two valid C strings.
        let got = unsafe { module_args(2, two.as_ptr()) }.unwrap();
        assert_eq!(got, vec!["function=x".to_owned(), "debug".to_owned()]);
        // SAFETY: argc 0: argv is not read.
        let none = unsafe { module_args(0, std::ptr::null()) };
        assert!(none.unwrap().is_empty());
        // SAFETY: a negative argc and a null argv are rejected before any read.
        assert!(unsafe { module_args(-1, std::ptr::null()) }.is_err());
        // SAFETY: as above.
        assert!(unsafe { module_args(1, std::ptr::null()) }.is_err());
        let with_null = [c"a".as_ptr(), std::ptr::null()];
        // SAFETY: two entries, the null one is rejected before it is read.
        assert!(unsafe { module_args(2, with_null.as_ptr()) }.is_err());
        let bad = [c"socket=/\xff".as_ptr()];
        // SAFETY: one valid C string.
        assert!(unsafe { module_args(1, bad.as_ptr()) }.is_err());
    }

    #[test]
    fn null_handle_is_a_system_error() {
        // SAFETY: a null handle is checked before anything is read.
        let rc = unsafe { pam_sm_authenticate(std::ptr::null_mut(), 0, 0, std::ptr::null()) };
        assert_eq!(rc, Code::SYSTEM_ERR.0);
    }

    #[test]
    fn secret_string_refuses_non_utf8() {
        assert_eq!(secret_string(b"ABC").unwrap().as_str(), "ABC");
        assert_eq!(secret_string(b"\xff\xfe"), Err(Code::AUTH_ERR));
    }

    #[test]
    fn pam_codes_map() {
        assert_eq!(pam_code(PamResultCode::PAM_CONV_ERR), Code::CONV_ERR);
        assert_eq!(pam_code(PamResultCode::PAM_CONV_AGAIN), Code::CONV_AGAIN);
        assert_eq!(pam_code(PamResultCode::PAM_MAXTRIES), Code::SYSTEM_ERR);
    }
}
