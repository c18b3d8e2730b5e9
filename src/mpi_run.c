#include "mpi_run.h"

#include <stdlib.h>

#ifdef SCH_HAVE_MPI
#include <mpi.h>

static bool started;

/* Only under a launcher: a plain `schelling run` never touches MPI, so a
 * build with MPI behaves as one without on a workstation. */
static bool launched(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") ||
         getenv("PMIX_RANK") || getenv("SLURM_STEP_NUM_TASKS");
}

void sch_mpi_start(int *argc, char ***argv) {
  if (!launched())
    return;
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  started = true;
}

void sch_mpi_finish(void) {
  if (started)
    MPI_Finalize();
  started = false;
}

int sch_mpi_rank(void) {
  int r = 0;
  if (started)
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int sch_mpi_size(void) {
  int n = 1;
  if (started)
    MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

bool sch_mpi_all(bool ok) {
  if (!started)
    return ok;
  int mine = ok ? 1 : 0, all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all == 1;
}

long sch_mpi_broadcast(long x) {
  if (started)
    MPI_Bcast(&x, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  return x;
}

#else

void sch_mpi_start(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
}
void sch_mpi_finish(void) {}
int sch_mpi_rank(void) { return 0; }
int sch_mpi_size(void) { return 1; }
bool sch_mpi_all(bool ok) { return ok; }
long sch_mpi_broadcast(long x) { return x; }

#endif
