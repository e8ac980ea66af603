"""payflow: durable payment orchestration on Temporal."""
