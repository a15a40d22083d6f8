"""fama-fuzz: structure-aware fuzzing of FAMA signalling (issue 7).

- ``seeds``: the legitimate messages and core templates of a campaign (fixed identity).
- ``frame``: a message as an editable structure, rendered back to bytes (and re-signed).
- ``mutators``: the mutations, in three families: field values, structure, crypto.
- ``targets``: what the mutants go to: our dissector, our cores, an implementation on an interface.
- ``oracles``: what counts as a bug: an exception, a hang, a lost liveness, an unbounded cache.
- ``findings``: pcap + JSON of each finding, replay and minimisation.
- ``campaign``: the seeded loop; case ``i`` depends on ``(seed, i)`` alone.
- ``harness``: the atheris entry points (optional extra ``fuzz``).
"""
