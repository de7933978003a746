//! The C side: Linux-PAM's application API (`pam_start`, `pam_set_item`,
//! `pam_authenticate`, `pam_acct_mgmt`, `pam_get_item`, `pam_end`) and the
//! conversation callback. The only module with unsafe code.
//!
//! The callback answers a hidden prompt with the password and a visible
//! one with the user name, ignores informational messages and refuses
//! anything else; it runs inside `catch_unwind` so a panic never unwinds
//! into libpam. Copies of the password handed to PAM live in memory PAM
//! frees (it wipes replies before freeing them); ours is zeroized on drop.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use crate::Outcome;

// Values from <security/_pam_types.h> (Linux-PAM).
const PAM_SUCCESS: c_int = 0;
const PAM_BUF_ERR: c_int = 5;
const PAM_PERM_DENIED: c_int = 6;
const PAM_AUTH_ERR: c_int = 7;
const PAM_CRED_INSUFFICIENT: c_int = 8;
const PAM_USER_UNKNOWN: c_int = 10;
const PAM_MAXTRIES: c_int = 11;
const PAM_NEW_AUTHTOK_REQD: c_int = 12;
const PAM_ACCT_EXPIRED: c_int = 13;
const PAM_CONV_ERR: c_int = 19;
const PAM_AUTHTOK_EXPIRED: c_int = 27;
const PAM_USER: c_int = 2;
const PAM_RHOST: c_int = 4;
const PAM_SILENT: c_int = 0x8000;
const PAM_DISALLOW_NULL_AUTHTOK: c_int = 0x0001;
const PAM_PROMPT_ECHO_OFF: c_int = 1;
const PAM_PROMPT_ECHO_ON: c_int = 2;
const PAM_ERROR_MSG: c_int = 3;
const PAM_TEXT_INFO: c_int = 4;
const PAM_MAX_NUM_MSG: c_int = 32;

/// `pam_handle_t`, only ever behind a pointer.
#[repr(C)]
struct PamHandle {
    _opaque: [u8; 0],
}

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

type ConvFn = extern "C" fn(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int;

#[repr(C)]
struct PamConv {
    conv: ConvFn,
    appdata_ptr: *mut c_void,
}

// SAFETY: the declarations match <security/pam_appl.h> and
// <security/_pam_types.h> of Linux-PAM: the struct layouts above are the
// C ones (two machine words each), and every pointer is passed as the
// headers declare it.
#[link(name = "pam")]
unsafe extern "C" {
    fn pam_start(
        service_name: *const c_char,
        user: *const c_char,
        pam_conversation: *const PamConv,
        pamh: *mut *mut PamHandle,
    ) -> c_int;
    fn pam_end(pamh: *mut PamHandle, pam_status: c_int) -> c_int;
    fn pam_set_item(pamh: *mut PamHandle, item_type: c_int, item: *const c_void) -> c_int;
    fn pam_get_item(pamh: *const PamHandle, item_type: c_int, item: *mut *const c_void) -> c_int;
    fn pam_authenticate(pamh: *mut PamHandle, flags: c_int) -> c_int;
    fn pam_acct_mgmt(pamh: *mut PamHandle, flags: c_int) -> c_int;
    fn pam_strerror(pamh: *mut PamHandle, errnum: c_int) -> *const c_char;
}

/// What the conversation answers with (borrowed for the transaction).
struct Answers<'a> {
    user: &'a CStr,
    /// NUL-terminated.
    password: &'a [u8],
}

/// A `malloc`ed copy of `bytes` (which end in NUL), as PAM frees replies.
fn c_copy(bytes: &[u8]) -> *mut c_char {
    // SAFETY: malloc of a nonzero size; the result is checked for NULL
    // before it is written, and exactly `bytes.len()` bytes are copied.
    unsafe {
        let p = libc::malloc(bytes.len()).cast::<u8>();
        if !p.is_null() {
            ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        }
        p.cast::<c_char>()
    }
}

/// Frees the first `n` replies (wiping them) and the array.
///
/// # Safety
/// `replies` was allocated by `converse` with at least `n` entries, each
/// NULL or a `c_copy` result.
unsafe fn free_replies(replies: *mut PamResponse, n: usize) {
    for i in 0..n {
        // SAFETY: `i < n`, within the array (caller's contract).
        let r = unsafe { &mut *replies.add(i) };
        if !r.resp.is_null() {
            // SAFETY: `resp` is a NUL-terminated c_copy result we own.
            unsafe {
                let len = libc::strlen(r.resp);
                ptr::write_bytes(r.resp, 0, len);
                libc::free(r.resp.cast());
            }
            r.resp = ptr::null_mut();
        }
    }
    // SAFETY: the array came from calloc and is freed once.
    unsafe { libc::free(replies.cast()) };
}

extern "C" fn converse(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    appdata_ptr: *mut c_void,
) -> c_int {
    let run = AssertUnwindSafe(|| {
        // SAFETY: libpam passes the `appdata_ptr` we gave `pam_start`,
        // which points at an `Answers` alive for the whole transaction;
        // `msg` holds `num_msg` message pointers and `resp` is writable,
        // as the conversation contract says (checked for NULL first).
        unsafe { answer(num_msg, msg, resp, appdata_ptr.cast::<Answers<'_>>()) }
    });
    catch_unwind(run).unwrap_or(PAM_CONV_ERR)
}

/// # Safety
/// As in the PAM conversation contract (see `converse`).
unsafe fn answer(
    num_msg: c_int,
    msg: *mut *const PamMessage,
    resp: *mut *mut PamResponse,
    answers: *const Answers<'_>,
) -> c_int {
    if num_msg <= 0
        || num_msg > PAM_MAX_NUM_MSG
        || msg.is_null()
        || resp.is_null()
        || answers.is_null()
    {
        return PAM_CONV_ERR;
    }
    let n = usize::try_from(num_msg).unwrap_or(0);
    // SAFETY: checked non-NULL above; it outlives the transaction.
    let answers = unsafe { &*answers };
    // SAFETY: calloc of n small structs; checked for NULL.
    let replies =
        unsafe { libc::calloc(n, std::mem::size_of::<PamResponse>()) }.cast::<PamResponse>();
    if replies.is_null() {
        return PAM_BUF_ERR;
    }
    for i in 0..n {
        // SAFETY: Linux-PAM passes an array of `num_msg` pointers.
        let m = unsafe { *msg.add(i) };
        if m.is_null() {
            // SAFETY: `replies` holds n entries, i of them filled.
            unsafe { free_replies(replies, i) };
            return PAM_CONV_ERR;
        }
        // SAFETY: a non-NULL message pointer from libpam.
        let style = unsafe { (*m).msg_style };
        let reply = match style {
            PAM_PROMPT_ECHO_OFF => c_copy(answers.password),
            PAM_PROMPT_ECHO_ON => c_copy(answers.user.to_bytes_with_nul()),
            PAM_ERROR_MSG | PAM_TEXT_INFO => ptr::null_mut(),
            _ => {
                // SAFETY: as above.
                unsafe { free_replies(replies, i) };
                return PAM_CONV_ERR;
            }
        };
        if reply.is_null() && matches!(style, PAM_PROMPT_ECHO_OFF | PAM_PROMPT_ECHO_ON) {
            // SAFETY: as above.
            unsafe { free_replies(replies, i) };
            return PAM_BUF_ERR;
        }
        // SAFETY: `i < n`; calloc zeroed the entry.
        unsafe { (*replies.add(i)).resp = reply };
    }
    // SAFETY: `resp` is writable (checked non-NULL); libpam takes the array.
    unsafe { *resp = replies };
    PAM_SUCCESS
}

fn strerror(pamh: *mut PamHandle, code: c_int) -> String {
    // SAFETY: pam_strerror returns a static string (or NULL) for any code;
    // `pamh` is a live handle or NULL, both accepted.
    let p = unsafe { pam_strerror(pamh, code) };
    if p.is_null() {
        return format!("PAM error {code}");
    }
    // SAFETY: a NUL-terminated static string from libpam.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn is_refusal(code: c_int) -> bool {
    matches!(
        code,
        PAM_AUTH_ERR
            | PAM_USER_UNKNOWN
            | PAM_MAXTRIES
            | PAM_PERM_DENIED
            | PAM_ACCT_EXPIRED
            | PAM_NEW_AUTHTOK_REQD
            | PAM_AUTHTOK_EXPIRED
            | PAM_CRED_INSUFFICIENT
    )
}

/// The user name PAM ended with (a module may have changed it).
fn final_user(pamh: *mut PamHandle) -> Option<CString> {
    let mut item: *const c_void = ptr::null();
    // SAFETY: a live handle; `item` receives a pointer owned by libpam.
    let rc = unsafe { pam_get_item(pamh, PAM_USER, &mut item) };
    if rc != PAM_SUCCESS || item.is_null() {
        return None;
    }
    // SAFETY: PAM_USER is a NUL-terminated string owned by the handle.
    Some(unsafe { CStr::from_ptr(item.cast::<c_char>()) }.to_owned())
}

/// One transaction; `password` ends in NUL (checked by the caller).
pub(crate) fn transaction(
    service: &str,
    user: &str,
    password: &[u8],
    rhost: Option<&str>,
) -> Outcome {
    let (Ok(c_service), Ok(c_user)) = (CString::new(service), CString::new(user)) else {
        return Outcome::Unavailable("a NUL byte in the service or user name".to_owned());
    };
    let c_rhost = match rhost.map(CString::new).transpose() {
        Ok(h) => h,
        Err(_) => return Outcome::Unavailable("a NUL byte in the client address".to_owned()),
    };
    if password.last() != Some(&0) {
        return Outcome::Unavailable("the password is not terminated".to_owned());
    }
    let answers = Answers {
        user: &c_user,
        password,
    };
    let conv = PamConv {
        conv: converse,
        appdata_ptr: ptr::from_ref(&answers).cast_mut().cast(),
    };
    let mut pamh: *mut PamHandle = ptr::null_mut();
    // SAFETY: valid NUL-terminated strings; `conv` and `answers` outlive the
    // handle (pam_end is called below before they go out of scope).
    let rc = unsafe { pam_start(c_service.as_ptr(), c_user.as_ptr(), &conv, &mut pamh) };
    if rc != PAM_SUCCESS || pamh.is_null() {
        return Outcome::Unavailable(format!("pam_start: {}", strerror(pamh, rc)));
    }
    let outcome = run(pamh, &c_user, c_rhost.as_deref());
    let status = match &outcome {
        Outcome::Accepted => PAM_SUCCESS,
        Outcome::Refused(_) | Outcome::Unavailable(_) => PAM_AUTH_ERR,
    };
    // SAFETY: the live handle from pam_start, ended exactly once.
    unsafe { pam_end(pamh, status) };
    outcome
}

fn run(pamh: *mut PamHandle, user: &CStr, rhost: Option<&CStr>) -> Outcome {
    if let Some(host) = rhost {
        // SAFETY: a live handle; libpam copies the string.
        let rc = unsafe { pam_set_item(pamh, PAM_RHOST, host.as_ptr().cast()) };
        if rc != PAM_SUCCESS {
            return Outcome::Unavailable(format!("pam_set_item: {}", strerror(pamh, rc)));
        }
    }
    let flags = PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK;
    for (step, call) in [
        (
            "pam_authenticate",
            pam_authenticate as unsafe extern "C" fn(_, _) -> _,
        ),
        ("pam_acct_mgmt", pam_acct_mgmt),
    ] {
        // SAFETY: a live handle whose conversation data is still alive.
        let rc = unsafe { call(pamh, flags) };
        if rc == PAM_SUCCESS {
            continue;
        }
        let text = format!("{step}: {}", strerror(pamh, rc));
        return if is_refusal(rc) {
            Outcome::Refused(text)
        } else {
            Outcome::Unavailable(text)
        };
    }
    match final_user(pamh) {
        Some(u) if u.as_c_str() == user => Outcome::Accepted,
        _ => Outcome::Refused("a PAM module changed the user name".to_owned()),
    }
}
