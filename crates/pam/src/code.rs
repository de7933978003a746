//! PAM return codes as a plain integer newtype.
//!
//! A newtype rather than an enum so a code libpam hands back (say from the
//! conversation) can be passed through unchanged. Values are Linux-PAM's
//! (`/usr/include/security/_pam_types.h`).

use std::ffi::c_int;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Code(pub c_int);

impl Code {
    pub const SUCCESS: Code = Code(0);
    pub const SERVICE_ERR: Code = Code(3);
    pub const SYSTEM_ERR: Code = Code(4);
    pub const BUF_ERR: Code = Code(5);
    pub const PERM_DENIED: Code = Code(6);
    pub const AUTH_ERR: Code = Code(7);
    pub const AUTHINFO_UNAVAIL: Code = Code(9);
    pub const USER_UNKNOWN: Code = Code(10);
    pub const NO_MODULE_DATA: Code = Code(18);
    pub const CONV_ERR: Code = Code(19);
    pub const IGNORE: Code = Code(25);
    pub const ABORT: Code = Code(26);
    pub const CONV_AGAIN: Code = Code(30);
    pub const INCOMPLETE: Code = Code(31);

    /// The constant's name, for log lines.
    pub fn name(self) -> String {
        let known = match self {
            Code::SUCCESS => "PAM_SUCCESS",
            Code::SERVICE_ERR => "PAM_SERVICE_ERR",
            Code::SYSTEM_ERR => "PAM_SYSTEM_ERR",
            Code::BUF_ERR => "PAM_BUF_ERR",
            Code::PERM_DENIED => "PAM_PERM_DENIED",
            Code::AUTH_ERR => "PAM_AUTH_ERR",
            Code::AUTHINFO_UNAVAIL => "PAM_AUTHINFO_UNAVAIL",
            Code::USER_UNKNOWN => "PAM_USER_UNKNOWN",
            Code::NO_MODULE_DATA => "PAM_NO_MODULE_DATA",
            Code::CONV_ERR => "PAM_CONV_ERR",
            Code::IGNORE => "PAM_IGNORE",
            Code::ABORT => "PAM_ABORT",
            Code::CONV_AGAIN => "PAM_CONV_AGAIN",
            Code::INCOMPLETE => "PAM_INCOMPLETE",
            Code(n) => return format!("PAM error {n}"),
        };
        known.to_owned()
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Code::AUTHINFO_UNAVAIL.to_string(), "PAM_AUTHINFO_UNAVAIL");
        assert_eq!(Code(99).to_string(), "PAM error 99");
    }
}
