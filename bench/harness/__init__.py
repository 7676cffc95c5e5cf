"""What every benchmark shares: the throwaway cluster and pgbench, the app under uvicorn, CPU
probes, load drivers and the report (tables and the one JSON line). Each bench module under
bench/ keeps only its workload."""
