"""fama-fuzz execs/s per target, in process, against bare decoding of the same mutants (issue 7).

For each in-process target (dissect, inproc) and mode (plain, --keep-valid) a
campaign of N cases runs with every oracle on (liveness after each inproc case,
every 100 dissect cases). The baseline, measured in the same run over the very
bytes of those cases, is ``codec.decode`` alone: the one step every case of
either target must take. ratio = campaign execs/s / decode-only rate; 1.0 would
mean that mutating, the target's work and the oracles cost nothing.
"""

from __future__ import annotations

import sys
import time

from _common import Report, ensure_project_on_path, fmt_rate, fmt_ratio, parser

ensure_project_on_path()

from scapy_fama.codec import decode  # noqa: E402
from scapy_fama.fuzz.campaign import Campaign, CampaignConfig  # noqa: E402


def main() -> int:
    args = parser(__doc__.splitlines()[0]).parse_args()
    n = 300 if args.quick else 3000
    report = Report("fama-fuzz: execs/s in process, against codec.decode of the same mutants")
    report.header([("cases per campaign", str(n))])
    rows = []
    for target in ("dissect", "inproc"):
        for keep_valid in (False, True):
            campaign = Campaign(CampaignConfig(target=target, seed=7, cases=n, keep_valid=keep_valid, minimise=False))
            raws = [campaign.make_case(i).raw for i in range(n)]
            t0 = time.perf_counter()
            for raw in raws:
                decode(raw)
            decode_rate = n / (time.perf_counter() - t0)
            summary = campaign.run()
            if summary.findings:
                report.fail(f"{target}: findings in our own code: {[f.failure.signature for f in summary.findings]}")
            rate = summary.execs_per_second
            rows.append((target, "--keep-valid" if keep_valid else "plain", fmt_rate(rate, " execs/s"),
                         fmt_rate(decode_rate), fmt_ratio(rate / decode_rate), str(summary.pair_count())))
    report.table("one core", ["target", "mode", "campaign", "decode only", "ratio", "coverage pairs"], rows)
    report.note("coverage pairs = distinct (mutator, outcome) pairs reached; no findings expected in our own code")
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
