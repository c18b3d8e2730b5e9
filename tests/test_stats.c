#include <criterion/criterion.h>
/* tests arrive with src/stats.c */
