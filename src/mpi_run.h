/**
 * @file mpi_run.h
 * @brief The few MPI calls the CLI needs (no-ops without MPI or when not
 *        started by mpirun). Under MPI, rank r of R runs shard r/R and rank 0
 *        merges the shards exactly (docs/output.md, "Shards").
 */
#ifndef SCHELLING_MPI_RUN_H
#define SCHELLING_MPI_RUN_H

#include <stdbool.h>

/** Start MPI when launched by mpirun/srun; otherwise do nothing. */
void sch_mpi_start(int *argc, char ***argv);

/** Finish MPI if it was started. */
void sch_mpi_finish(void);

/** @return this rank (0 without MPI). */
int sch_mpi_rank(void);

/** @return the number of ranks (1 without MPI). */
int sch_mpi_size(void);

/** @return true on every rank iff ok is true on every rank. */
bool sch_mpi_all(bool ok);

/** @return rank 0's value of x on every rank. */
long sch_mpi_broadcast(long x);

#endif
