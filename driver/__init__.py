"""Host side of needlepen: the Pen session over pyserial, the safety governor, the policy and
the audit store."""
