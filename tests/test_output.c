#include <criterion/criterion.h>
/* tests arrive with src/output.c */
