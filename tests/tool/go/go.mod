module umngo

go 1.19
