"""Simulated hardware: SNS-like beam and digitizer with a CsI[Na] detector and muon veto."""
