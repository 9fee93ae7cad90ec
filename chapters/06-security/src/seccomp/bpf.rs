//! A seccomp filter is a small program in classic BPF, the packet-filter language of
//! `tcpdump`, that the kernel runs on every system call of the process: it reads the
//! syscall's number, architecture and arguments (`struct seccomp_data`) and returns what to do.
//! This module compiles resolved [`Rule`]s into such a program, in the simplest layout there
//! is, so that it can be read instruction by instruction (`ch06 bpf` prints it):
//!
//! ```text
//!   load arch; if it is not ours: return the default   (a 32-bit syscall table would bypass us)
//!   load nr;   [x86-64: if nr has the x32 bit: return the default]
//!   for each syscall named by a rule:
//!     if nr != N: skip this block
//!       for each rule of N (refusals first): check its argument conditions, each a jump to
//!         the next rule on failure; return the rule's action
//!       return the default
//!   return the default
//! ```
//!
//! libseccomp, which runc uses, builds a balanced tree instead of this linear scan; the answers
//! are the same, ours costs a few hundred comparisons for the last syscall in the list.

use super::profile::{Action, Compare, Rule};

/// Why the rules do not fit in a program.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error("the seccomp filter has {0} instructions, more than the kernel's 4096")]
    TooLong(usize),
    #[error("the rules of syscall {0} take more than 255 instructions")]
    BlockTooLong(libc::c_long),
}

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
const fn arg_low(index: u8) -> u32 {
    16 + 8 * index as u32 // little-endian: the low half first
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The kernel's return value for an action.
pub fn ret_value(action: Action) -> u32 {
    match action {
        Action::Allow => libc::SECCOMP_RET_ALLOW,
        Action::Errno(errno) => libc::SECCOMP_RET_ERRNO | (errno & libc::SECCOMP_RET_DATA),
        Action::Kill => libc::SECCOMP_RET_KILL_PROCESS,
        Action::Trap => libc::SECCOMP_RET_TRAP,
        Action::Log => libc::SECCOMP_RET_LOG,
    }
}

/// A refusal before a permission: for the same syscall, the more specific "no" wins, as
/// libseccomp's most-restrictive-action rule makes it.
fn rank(action: Action) -> u8 {
    match action {
        Action::Kill => 0,
        Action::Trap => 1,
        Action::Errno(_) => 2,
        Action::Log => 3,
        Action::Allow => 4,
    }
}

/// One rule's instructions: its conditions (a failed one jumps past the rule's end) and its
/// return.
fn rule_block(rule: &Rule) -> Vec<libc::sock_filter> {
    // Each condition is built with `FAIL` as a placeholder, fixed once the length is known.
    const FAIL: u8 = u8::MAX;
    let mut out = Vec::new();
    for (index, compare) in &rule.args {
        let (low, high) = (arg_low(*index), arg_low(*index) + 4);
        match *compare {
            Compare::Eq(v) => {
                out.push(stmt(LD_W_ABS, high));
                out.push(jump(JEQ_K, (v >> 32) as u32, 0, FAIL));
                out.push(stmt(LD_W_ABS, low));
                out.push(jump(JEQ_K, v as u32, 0, FAIL));
            }
            Compare::Ne(v) => {
                out.push(stmt(LD_W_ABS, high));
                out.push(jump(JEQ_K, (v >> 32) as u32, 0, 2)); // high differs: holds
                out.push(stmt(LD_W_ABS, low));
                out.push(jump(JEQ_K, v as u32, FAIL, 0));
            }
            Compare::MaskedEq { mask, value } => {
                out.push(stmt(LD_W_ABS, high));
                out.push(stmt(AND_K, (mask >> 32) as u32));
                out.push(jump(JEQ_K, (value >> 32) as u32, 0, FAIL));
                out.push(stmt(LD_W_ABS, low));
                out.push(stmt(AND_K, mask as u32));
                out.push(jump(JEQ_K, value as u32, 0, FAIL));
            }
        }
    }
    out.push(stmt(RET_K, ret_value(rule.action)));
    let len = out.len();
    for (i, insn) in out.iter_mut().enumerate() {
        // The jump lands on the instruction after the rule: the next rule, or the default.
        let past_end = (len - i - 1) as u8;
        if insn.jt == FAIL {
            insn.jt = past_end;
        }
        if insn.jf == FAIL {
            insn.jf = past_end;
        }
    }
    out
}

// ANCHOR: compile
/// Compiles `rules` (in profile order) and the default action into a filter program.
pub fn compile(rules: &[Rule], default: Action) -> Result<Vec<libc::sock_filter>, BpfError> {
    let default_ret = stmt(RET_K, ret_value(default));
    let mut program = vec![
        stmt(LD_W_ABS, ARCH),
        jump(JEQ_K, AUDIT_ARCH, 1, 0),
        default_ret,
        stmt(LD_W_ABS, NR),
    ];
    if cfg!(target_arch = "x86_64") {
        // x32 syscalls are x86-64's with bit 30 set: another table, which we do not allow.
        program.push(jump(JGE_K, 0x4000_0000, 0, 1));
        program.push(default_ret);
    }
    // Syscalls in order of first mention; each one's rules, refusals first.
    let mut order: Vec<libc::c_long> = Vec::new();
    for rule in rules {
        if !order.contains(&rule.nr) {
            order.push(rule.nr);
        }
    }
    for nr in order {
        let mut mine: Vec<&Rule> = rules.iter().filter(|r| r.nr == nr).collect();
        mine.sort_by_key(|r| rank(r.action));
        let mut block = Vec::new();
        let mut decided = false;
        for rule in mine {
            block.extend(rule_block(rule));
            if rule.args.is_empty() {
                decided = true;
                break; // later rules of this syscall can never be reached
            }
        }
        if !decided {
            block.push(default_ret); // every rule's conditions failed
        }
        let skip = u8::try_from(block.len()).map_err(|_| BpfError::BlockTooLong(nr))?;
        program.push(jump(JEQ_K, nr as u32, 0, skip));
        program.extend(block);
    }
    program.push(default_ret);
    if program.len() > 4096 {
        return Err(BpfError::TooLong(program.len()));
    }
    Ok(program)
}
// ANCHOR_END: compile

/// One line per instruction, for `ch06 bpf` and the book.
pub fn disassemble(program: &[libc::sock_filter]) -> String {
    let mut out = String::new();
    for (pc, insn) in program.iter().enumerate() {
        let text = match insn.code {
            LD_W_ABS => format!("ld  [{}]", insn.k),
            AND_K => format!("and #{:#x}", insn.k),
            JEQ_K | JGE_K => {
                let op = if insn.code == JEQ_K { "jeq" } else { "jge" };
                let target = |off: u8| pc + 1 + usize::from(off);
                format!(
                    "{op} #{:#x}, {}, {}",
                    insn.k,
                    target(insn.jt),
                    target(insn.jf)
                )
            }
            RET_K => format!("ret #{:#x}", insn.k),
            code => format!("? {code:#x} {:#x}", insn.k),
        };
        out.push_str(&format!("{pc:4}: {text}\n"));
    }
    out
}
