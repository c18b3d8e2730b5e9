#include <criterion/criterion.h>
/* tests arrive with src/loanbook.c */
