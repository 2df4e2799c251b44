// The mode tables: compatibility, the "covers" order used for blocking notifications, the legality of
// DLM_QUECVT and the value block transfer table.

import { DLM_EXMODE, DLM_NLMODE, DLM_PWMODE } from './constants';

/**
 * Compatibility of a requested mode with a granted mode, identical in VMS, Tru64 and Linux
 * (VMS's table; Tru64's incompatibilities per Ingres' cxaxp_incompatable_modes: CR⊥EX;
 * CW⊥PR,PW,EX; PR⊥CW,PW,EX; PW⊥CW,PR,PW,EX; EX⊥all but NL). Index [granted][requested], 0 = no mode
 * (a never-granted request holds nothing, so it is compatible with everything).
 */
const COMPAT: readonly (readonly boolean[])[] = [
  //        --    NL    CR     CW     PR     PW     EX
  /* -- */ [true, true, true, true, true, true, true],
  /* NL */ [true, true, true, true, true, true, true],
  /* CR */ [true, true, true, true, true, true, false],
  /* CW */ [true, true, true, true, false, false, false],
  /* PR */ [true, true, true, false, true, false, false],
  /* PW */ [true, true, true, false, false, false, false],
  /* EX */ [true, true, false, false, false, false, false],
];

/** Bit m set in INCOMPAT_MASK[rq] when granted mode m blocks requested mode rq. */
export const INCOMPAT_MASK: readonly number[] = COMPAT.map((_, rq) => {
  let mask = 0;
  for (let gr = 1; gr <= DLM_EXMODE; gr++) if (!COMPAT[gr][rq]) mask |= 1 << gr;
  return mask;
});

export function compatible(granted: number, requested: number): boolean {
  return COMPAT[granted][requested];
}

export function validMode(mode: unknown): mode is number {
  return typeof mode === 'number' && Number.isInteger(mode) && mode >= DLM_NLMODE && mode <= DLM_EXMODE;
}

/**
 * `a` covers `b` when every mode compatible with `a` is compatible with `b`: holding `a` is at least as
 * restrictive as holding `b`. The order is the lattice NL < CR < {CW, PR} < PW < EX (CW and PR are
 * incomparable). Used for "no repeat of a blocking notification for the same or a lower mode" and to
 * recognise down-conversions.
 */
export function covers(a: number, b: number): boolean {
  for (let m = DLM_NLMODE; m <= DLM_EXMODE; m++) if (COMPAT[a][m] && !COMPAT[b][m]) return false;
  return true;
}

/** Bit m set in COVERED_BY_MASK[rq] when mode m covers rq. */
export const COVERED_BY_MASK: readonly number[] = COMPAT.map((_, rq) => {
  let mask = 0;
  for (let m = 1; m <= DLM_EXMODE; m++) if (covers(m, rq)) mask |= 1 << m;
  return mask;
});

/**
 * Legality of DLM_QUECVT, index [granted][requested].
 *
 * GAP decision (docs/decisions.md): Tru64's dlm(4) table was not retrievable. Ingres' Tru64 client applies
 * QUECVT only for NL→CR/CW/PR/PW/EX, CR→CW/PR/PW/EX, CW→PW/EX and PR→PW/EX, while its VMS table and
 * Linux' __quecvt_compat_matrix also allow CW→PR, PR→CW and PW→EX. The difference suggests Tru64 refuses
 * those, so we take Ingres' Tru64 table: anything else with DLM_QUECVT (every down-conversion, same-mode
 * conversions, CW↔PR, PW→EX) is refused with DLM_BADPARAM.
 */
const QUECVT_LEGAL: readonly (readonly boolean[])[] = [
  //        --     NL     CR     CW     PR     PW     EX
  /* -- */ [false, false, false, false, false, false, false],
  /* NL */ [false, false, true, true, true, true, true],
  /* CR */ [false, false, false, true, true, true, true],
  /* CW */ [false, false, false, false, false, true, true],
  /* PR */ [false, false, false, false, false, true, true],
  /* PW */ [false, false, false, false, false, false, false],
  /* EX */ [false, false, false, false, false, false, false],
];

export function quecvtLegal(granted: number, requested: number): boolean {
  return QUECVT_LEGAL[granted][requested];
}

/** What a grant does with the value block, after Linux' dlm_lvb_operations. */
export const LVB_NONE = 0;
export const LVB_READ = 1;
export const LVB_WRITE = 2;

/**
 * Index [granted][requested]: from NL/CR/CW/PR to a mode at least as high (numerically), the resource's
 * value block is returned to the caller; from PW to PW and from EX to anything, and from PW to a lower
 * mode, the caller's value block is written to the resource; PW→EX returns it; a down-conversion from
 * a mode below PW does nothing. A new request (granted = no mode) always reads.
 * VMS $DEQ: "When a protected write (PW) or exclusive (EX) mode lock is being dequeued and you specify a
 * lock value block ... [it is written]"; Ingres (Tru64): "updated with current value of resource when
 * conversion is granted if lock held in a non-exclusive mode, and new mode is equal to or greater than
 * old mode. Value will be written to DLM if current mode held is [PW] or [EX]."
 */
const N = LVB_NONE, R = LVB_READ, W = LVB_WRITE;
const LVB_OPS: readonly (readonly number[])[] = [
  //        --  NL CR CW PR PW EX
  /* -- */ [N, R, R, R, R, R, R],
  /* NL */ [N, R, R, R, R, R, R],
  /* CR */ [N, N, R, R, R, R, R],
  /* CW */ [N, N, N, R, R, R, R],
  /* PR */ [N, N, N, N, R, R, R],
  /* PW */ [N, W, W, W, W, W, R],
  /* EX */ [N, W, W, W, W, W, W],
];

export function lvbOperation(granted: number, requested: number): number {
  return LVB_OPS[granted][requested];
}

/** Modes whose holder may write the value block (and whose holder's death invalidates it). */
export function writesValueBlock(mode: number): boolean {
  return mode === DLM_PWMODE || mode === DLM_EXMODE;
}
