module awbench/peers/go

go 1.19
