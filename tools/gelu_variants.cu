// GELU forward variants on the GPU, standalone (no flambeau): time (32M float32, float4 in/out, median of
// 30, events) and max ulp against float64 over every float32 with |x| <= 12, split by sign.
//   nvcc -O3 -arch=sm_90 tools/gelu_variants.cu -o /tmp/gv && /tmp/gv
// V1 old (flambeau's): x < 0 ? 0.5 erfc(-x/r2) : 0.5 (1 + erf(x/r2));  V2 0.5 erfc(-x/r2) for all x;
// V3 |z| < 0.5 ? 0.5 (1 + erf(z)) : 0.5 erfc(-z).
// Measured on the H100 (2026-11-23, cuda-drop branch, 132*8 blocks x 256, 8 float4 per thread):
//   ms: copy 0.1016  old 0.1209 (84%)  new 0.1123 (90%)  hyb 0.1195 (85%)   (a 2nd repeat within 0.5%)
//   max ulp x >= 0: old 1.81  new 4.99  hyb 1.81;   x < 0: 177.89 for all three (the argument rounding
//   of x/sqrt2 in the far tail, common to all).
// V2 is 7% faster but loses accuracy for small positive x (erfc near 1), so flambeau keeps V1.
#include <cstdio>
#include <cstring>
#include <cmath>
#include <cstdint>
#include <algorithm>
#define R2 0.70710678118654752f
template<int V> __device__ float cdf(float x){
 if(V==1) return x<0.f?0.5f*erfcf(-x*R2):0.5f*(1.f+erff(x*R2));
 if(V==2) return 0.5f*erfcf(-x*R2);
 if(V==3){float z=x*R2; return fabsf(z)<0.5f?0.5f*(1.f+erff(z)):0.5f*erfcf(-z);}
 return 1.f;}
template<int V> __device__ float g(float x){return V==0?x:x*cdf<V>(x);}
template<int V> __global__ void k(float4*o,const float4*a,int n){
 for(int i=blockIdx.x*blockDim.x+threadIdx.x;i<n;i+=gridDim.x*blockDim.x){float4 x=a[i];o[i]=make_float4(g<V>(x.x),g<V>(x.y),g<V>(x.z),g<V>(x.w));}}
__device__ double ulp(double r){int e;frexpf(fabsf((float)r),&e);return ldexp(1.0,e-24);}
__global__ void sw(unsigned long long*res,uint32_t hi){
 for(uint32_t b=blockIdx.x*blockDim.x+threadIdx.x;b<=hi;b+=gridDim.x*blockDim.x)for(int s=0;s<2;++s){
  float x=__uint_as_float(b|(s?0x80000000u:0u));double xd=x,rf=xd*0.5*erfc(-xd*M_SQRT1_2);
  if(fabs(rf)<1.17549435e-38)continue;double u=ulp(rf);
  atomicMax(&res[s*4+0],(unsigned long long)(fabs(g<1>(x)-rf)/u*1024));
  atomicMax(&res[s*4+1],(unsigned long long)(fabs(g<2>(x)-rf)/u*1024));
  atomicMax(&res[s*4+2],(unsigned long long)(fabs(g<3>(x)-rf)/u*1024));}}
template<int V> float tm(float4*o,const float4*a,int n){cudaEvent_t e0,e1;cudaEventCreate(&e0);cudaEventCreate(&e1);float t[30];
 for(int r=0;r<30;++r){cudaEventRecord(e0);k<V><<<132*8,256>>>(o,a,n);cudaEventRecord(e1);cudaEventSynchronize(e1);cudaEventElapsedTime(&t[r],e0,e1);}
 std::sort(t,t+30);return t[15];}
__global__ void init(float*a,int n){for(int i=blockIdx.x*blockDim.x+threadIdx.x;i<n;i+=gridDim.x*blockDim.x){uint32_t h=i*2654435761u;h^=h>>15;h*=2246822519u;h^=h>>13;a[i]=((h&0xffffff)/16777216.f-0.5f)*6.f;}}
int main(){int N=1<<25;float*a,*o;cudaMalloc(&a,N*4);cudaMalloc(&o,N*4);init<<<1024,256>>>(a,N);
 const float4*a4=(const float4*)a;float4*o4=(float4*)o;int n=N/4;
 for(int rep=0;rep<2;++rep)printf("ms copy %.4f old %.4f new %.4f hyb %.4f\n",tm<0>(o4,a4,n),tm<1>(o4,a4,n),tm<2>(o4,a4,n),tm<3>(o4,a4,n));
 unsigned long long*d,h[8];cudaMalloc(&d,64);cudaMemset(d,0,64);float L=12.f;uint32_t hi;memcpy(&hi,&L,4);sw<<<2112,256>>>(d,hi);
 cudaMemcpy(h,d,64,cudaMemcpyDeviceToHost);printf("err %s\n",cudaGetErrorString(cudaGetLastError()));
 for(int s=0;s<2;++s)printf("%s ulp old %.2f new %.2f hyb %.2f\n",s?"x<0":"x>=0",h[s*4]/1024.,h[s*4+1]/1024.,h[s*4+2]/1024.);}
